"""
The flag engine's metrics (tracker/metrics.py serves them): flags raised and withdrawn
as they happen, counted by the signal receivers below in whichever process runs the
check; and what the database says when scraped: pending checks, the age of the
oldest (flags have stopped when it grows), flags by status, the sweep's last run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Min
from django.dispatch import receiver
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from corridors.models import Flag, FlagCheck
from corridors.signals import flag_raised, flag_withdrawn
from corridors.tasks import SWEEP_HEARTBEAT
from tracker.models import Heartbeat

FLAG_EVENTS = Counter(
    "tracker_flag_events",
    "Flags raised (reopened ones included, also counted as reopened) and withdrawn.",
    ["event"],
)
for _event in ("raised", "reopened", "withdrawn"):
    FLAG_EVENTS.labels(_event)  # present, at 0, before the first one


@receiver(flag_raised, dispatch_uid="corridors.metrics.raised")
def _count_raised(sender: Any, flag: Flag, reopened: bool = False, **kwargs: Any) -> None:
    FLAG_EVENTS.labels("raised").inc()
    if reopened:
        FLAG_EVENTS.labels("reopened").inc()


@receiver(flag_withdrawn, dispatch_uid="corridors.metrics.withdrawn")
def _count_withdrawn(sender: Any, flag: Flag, **kwargs: Any) -> None:
    FLAG_EVENTS.labels("withdrawn").inc()


class FlagEngineCollector(Collector):
    """Three small indexed queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        pending = FlagCheck.objects.aggregate(n=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            "tracker_flag_checks_pending",
            "Pending flag checks (the outbox): changes whose flags are not checked yet.",
            value=pending["n"],
        )
        oldest = pending["oldest"]
        yield GaugeMetricFamily(
            "tracker_flag_checks_oldest_age_seconds",
            "Age of the oldest pending flag check (0 when none): flags have stopped when it keeps growing.",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        by_status = GaugeMetricFamily("tracker_flags", "Flags, by status.", labels=["status"])
        counts = dict(Flag.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in Flag.Status.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        last = Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).values_list("at", flat=True).first()
        if last is not None:
            yield GaugeMetricFamily(
                "tracker_flag_sweep_last_run_timestamp_seconds",
                "When the flag sweep (celery beat) last finished, as a Unix time.",
                value=last.timestamp(),
            )
