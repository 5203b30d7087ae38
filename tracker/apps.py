from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = _("Facts on the ground")

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from tracker import pagecache

        # Every write of what a public page shows makes the kept pages stale (tracker/pagecache.py).
        for label in pagecache.SHOWN_MODELS:
            model = apps.get_model(label)
            post_save.connect(pagecache.on_write, sender=model, dispatch_uid=f"pagecache:save:{label}")
            post_delete.connect(pagecache.on_write, sender=model, dispatch_uid=f"pagecache:delete:{label}")
            for m2m in model._meta.many_to_many:
                through = m2m.remote_field.through  # type: ignore[union-attr]
                m2m_changed.connect(pagecache.on_write, sender=through, dispatch_uid=f"pagecache:m2m:{through}")
