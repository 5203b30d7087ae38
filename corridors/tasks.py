"""
Celery tasks of the flag engine: thin wrappers that take ids, read the clock once
and call corridors/flagging.py, where the work and its tests are.

They are queued after the commit of the change (corridors/recheck.py). A task that
fails on a database or broker connection is retried with backoff; any other error
is a bug and is not retried. Nothing depends on a task arriving: see the outbox,
corridors.models.FlagCheck.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from typing import Any, ClassVar

import kombu.exceptions
from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from corridors import alerts, events, flagging, webhooks
from tracker import services as tracker_services
from tracker.logs import warn_throttled

log = logging.getLogger("corridors.flags")

# Errors that pass: a dropped or refused connection, a deadlock or a lock timeout.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, kombu.exceptions.OperationalError)


# After a failed publish, the process does not try the broker again for this many
# seconds: while it is down, writes are not each held up by a connection attempt.
PUBLISH_RETRY_AFTER = 5.0


class OutboxTask(DjangoTask):
    """
    `delay_on_commit()` that never fails the request whose commit queued it: when the
    broker cannot be reached the change is committed anyway, and its outbox marker
    brings the sweep to it. (Celery's own raises from inside `on_commit`, after the
    commit, turning a saved change into an error page.) The warning is logged at most
    once a minute per process, however many writes meet the outage.
    """

    # Shared by every task of the process: it is the broker that is down, not one task.
    _broker_down_until: ClassVar[dict[str, float]] = {}  # broker URL → time.monotonic()

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        transaction.on_commit(functools.partial(self._publish, args, kwargs))

    def _publish(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        eager = self.app.conf.task_always_eager
        broker = str(self.app.conf.broker_url)
        if not eager and time.monotonic() < OutboxTask._broker_down_until.get(broker, 0.0):
            return  # the marker is there; the sweep runs the check
        try:
            self.delay(*args, **kwargs)
        # With a broker, any error: the change is committed and must be answered as such;
        # whatever kombu or redis-py raise for a broker that fails mid-publish, the marker
        # stays. Without one (eager), the check ran here, and its own errors are errors.
        except Exception as exc:
            if eager and not isinstance(exc, kombu.exceptions.OperationalError):
                raise
            OutboxTask._broker_down_until[broker] = time.monotonic() + PUBLISH_RETRY_AFTER
            warn_throttled(
                log,
                "broker_unavailable",
                "event=broker_unavailable task=%s args=%s error=%s: %s: the change is saved, the sweep will check it",
                self.name,
                args,
                type(exc).__name__,
                exc,
            )


# The sweep's heartbeat (tracker.models.Heartbeat): the health check's evidence that beat runs.
SWEEP_HEARTBEAT = "corridors.sweep_flags"

RETRYING: dict[str, Any] = {
    "base": OutboxTask,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 10,
}


@shared_task(name="corridors.check_report", **RETRYING)
def check_report(report_id: int) -> None:
    flagging.flags_check_reports(report_ids=[report_id], now=timezone.now())


@shared_task(name="corridors.check_reports", **RETRYING)
def check_reports(report_ids: list[int]) -> None:
    flagging.flags_check_reports(report_ids=report_ids, now=timezone.now())


@shared_task(name="corridors.check_window", **RETRYING)
def check_window(window_id: int) -> None:
    flagging.flags_check_windows(window_ids=[window_id], now=timezone.now())


@shared_task(name="corridors.check_corridor", **RETRYING)
def check_corridor(corridor_id: int) -> None:
    flagging.flags_check_corridor(corridor_id=corridor_id, now=timezone.now())


@shared_task(name="corridors.sweep_flags", **RETRYING)
def sweep_flags() -> None:
    now = timezone.now()
    flagging.flags_sweep(now=now, grace=dt.timedelta(seconds=settings.FLAG_SWEEP_GRACE))
    tracker_services.heartbeat_record(name=SWEEP_HEARTBEAT, now=now)


@shared_task(name="corridors.reconcile_all_flags", **RETRYING)
def reconcile_all_flags() -> None:
    flagging.flags_reconcile_all(now=timezone.now())


@shared_task(name="corridors.deliver_webhook", **RETRYING)
def deliver_webhook(webhook_id: int) -> None:
    again = webhooks.webhook_deliver(webhook_id=webhook_id)
    # Eager (embedded) mode has no timer to wait with: the sweep, run by hand or by beat, retries.
    if again is not None and not deliver_webhook.app.conf.task_always_eager:
        try:
            deliver_webhook.apply_async((webhook_id,), eta=again)
        except Exception:  # the broker is down: the delivery row waits for the sweep
            log.warning("event=webhook_retry_not_queued webhook=%s: the sweep will send it", webhook_id)


@shared_task(name="corridors.sweep_webhooks", **RETRYING)
def sweep_webhooks() -> None:
    now = timezone.now()
    events.windows_opened(now=now)
    for webhook_id in webhooks.webhooks_due(now=now):
        deliver_webhook.delay(webhook_id)


@shared_task(name="corridors.send_flag_alerts", **RETRYING)
def send_flag_alerts(subscription_id: int) -> None:
    alerts.flag_alerts_send(subscription_id=subscription_id, now=timezone.now())


@shared_task(name="corridors.sweep_flag_alerts", **RETRYING)
def sweep_flag_alerts(digest: bool = False) -> None:
    now = timezone.now()
    for subscription_id in alerts.flag_alerts_due(digest=digest):
        alerts.flag_alerts_send(subscription_id=subscription_id, now=now)
