from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CorridorsConfig(AppConfig):
    name = "corridors"
    verbose_name = _("Corridors and flags")
