from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = _("Facts on the ground")

    def ready(self) -> None:
        from tracker import admin_time, pagecache, signals

        signals.connect()
        pagecache.connect()
        admin_time.install()


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, on our site: no model admin answers questions about exact positions (tracker/adminsite.py)."""

    default = False  # not the tracker app's own config
    default_site = "tracker.adminsite.AdminSite"
