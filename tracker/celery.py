"""
The Celery app. Its configuration is the `CELERY_*` names in tracker/settings.py.

Every task run counts in the metrics by outcome (tracker/metrics.py) and, with
LOG_REQUESTS, writes one line on the `tracker.tasks` logger (JSON with LOG_FORMAT=json):

    event=task task=corridors.check_report id=… state=SUCCESS duration_ms=8.1 retries=0
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

from celery import Celery, signals
from celery.exceptions import CPendingDeprecationWarning
from django.conf import settings

from tracker.metrics import TASKS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

# Celery warns at every lost broker connection that the default of
# worker_cancel_long_running_tasks_on_connection_loss will change: it is set, knowingly.
warnings.filterwarnings(
    "ignore",
    category=CPendingDeprecationWarning,
    message=r"\s*In Celery 5\.1 we introduced an optional breaking change",
)

app = Celery("tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger("tracker.tasks")
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id or "", None)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    name = getattr(task, "name", "?")
    TASKS.labels(name, OUTCOMES.get(state or "", (state or "unknown").lower())).inc()
    if not settings.LOG_REQUESTS:
        return
    retries = getattr(getattr(task, "request", None), "retries", 0)
    fields = {"task": name, "task_id": task_id, "state": state, "duration_ms": duration_ms, "retries": retries}
    level = logging.INFO if state in {"SUCCESS", "RETRY"} else logging.WARNING
    log.log(
        level,
        "event=task task=%s id=%s state=%s duration_ms=%s retries=%s",
        name,
        task_id,
        state,
        duration_ms,
        retries,
        extra=fields,
    )
