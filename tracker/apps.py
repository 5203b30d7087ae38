from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = _("Facts on the ground")

    def ready(self) -> None:
        from tracker import admin_time, pagecache, signals

        signals.connect()
        pagecache.connect()
        admin_time.install()
