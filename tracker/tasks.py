"""Celery tasks of the facts on the ground: thin wrappers over tracker/services.py."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from tracker import services
from tracker.api import downloads
from tracker.imports import services as imports


@shared_task(name="tracker.purge_idempotency_records")
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge(now=timezone.now())


@shared_task(name="tracker.repair_site_restrictions")
def repair_site_restrictions() -> int:
    return len(services.site_restrictions_repair())


@shared_task(name="tracker.send_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(*, subject: str, body: str, to: str) -> None:
    """An e-mail written by the request that queued it (a password reset link)."""
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


@shared_task(
    name="tracker.run_import",
    soft_time_limit=settings.IMPORT_TASK_TIME_LIMIT - 30,
    time_limit=settings.IMPORT_TASK_TIME_LIMIT,
)
def run_import(batch_id: int, apply: bool) -> None:
    """Preview or apply an uploaded file (tracker/imports/services.py)."""
    imports.import_run(batch_id=batch_id, apply=apply)


@shared_task(
    name="tracker.build_downloads",
    soft_time_limit=settings.DOWNLOADS_TASK_TIME_LIMIT - 30,
    time_limit=settings.DOWNLOADS_TASK_TIME_LIMIT,
)
def build_downloads() -> str | None:
    """Every whole data set of the data's current version, then the version marked complete."""
    return downloads.build()
