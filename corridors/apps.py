from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CorridorsConfig(AppConfig):
    name = "corridors"
    verbose_name = _("Corridors and flags")

    def ready(self) -> None:
        # The flag engine's metrics: its signal receivers, and what /metrics reads from the database.
        from corridors import metrics
        from tracker.metrics import SCRAPE_COLLECTORS

        SCRAPE_COLLECTORS.append(metrics.FlagEngineCollector())
