"""Celery tasks of the facts on the ground: thin wrappers over tracker/services.py."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from tracker import services


@shared_task(name="tracker.purge_idempotency_records")
def purge_idempotency_records() -> int:
    return services.idempotency_records_purge(now=timezone.now())
