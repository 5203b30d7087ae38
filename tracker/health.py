"""
`GET /health/`: is the whole service working, flags included? For monitoring and
supervision (docs/operations.md), cheap enough to be polled every few seconds.

    200 {"status": "ok",   "checks": {"database": "ok", ..., "flag_backlog": "ok"}}
    503 {"status": "fail", "checks": {..., "worker": "Unavailable: no worker answered a ping within 1 s"}}

Each check is a django-health-check check, run concurrently, each within its own
timeout. What they say never includes an address, a name or a key: the answer is
public. Without a broker (the embedded mode, tasks run in-process) the broker,
worker and beat checks say "eager" and pass.

- database: `SELECT 1`.
- cache: a value written and read back (the cache fails open, tracker/cache.py: it
  never fails a request, so this is where its outage shows).
- broker: a connection to it.
- worker: at least one worker answers a ping within HEALTH_WORKER_TIMEOUT.
- beat: the flag sweep, which beat starts every FLAG_SWEEP_INTERVAL, finished within
  two intervals (its heartbeat row, tracker.models.Heartbeat).
- flag_backlog: no pending flag check older than HEALTH_FLAG_BACKLOG_SECONDS: an older
  one means flags have stopped being raised, whatever the other checks say.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from health_check import checks as library
from health_check.base import HealthCheck
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from health_check.views import HealthCheckView

from corridors.models import FlagCheck
from corridors.tasks import SWEEP_HEARTBEAT
from tracker.celery import app as celery_app
from tracker.models import Heartbeat

EAGER = "eager"


def _eager() -> bool:
    return bool(celery_app.conf.task_always_eager)


@dataclasses.dataclass
class Database(library.Database):
    name: ClassVar[str] = "database"
    timeout = dt.timedelta(seconds=3)


@dataclasses.dataclass
class Cache(library.Cache):
    name: ClassVar[str] = "cache"

    async def run(self) -> None:
        try:
            await super().run()
        except HealthCheckException as exc:
            # The library's message names its probe key; this one says what it means.
            raise ServiceUnavailable("a value written to the cache was not read back: is Redis down?") from exc


@dataclasses.dataclass
class Broker(HealthCheck):
    name: ClassVar[str] = "broker"
    timeout = dt.timedelta(seconds=3)
    state: str = dataclasses.field(default="ok", init=False)

    def run(self) -> None:
        if _eager():
            self.state = EAGER
            return
        try:
            with celery_app.connection_for_write(connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=0)
        except Exception as exc:  # whatever the transport raises: the answer is the same
            raise ServiceUnavailable("the broker cannot be reached") from exc


@dataclasses.dataclass
class Worker(HealthCheck):
    name: ClassVar[str] = "worker"
    state: str = dataclasses.field(default="ok", init=False)

    def __post_init__(self) -> None:
        self.timeout = dt.timedelta(seconds=settings.HEALTH_WORKER_TIMEOUT + 2)

    def run(self) -> None:
        if _eager():
            self.state = EAGER
            return
        wait = settings.HEALTH_WORKER_TIMEOUT
        try:
            with celery_app.connection_for_write(connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=0)
                # The first answer is enough: waiting for every worker would cost the whole timeout.
                replies = celery_app.control.ping(timeout=wait, limit=1, connection=connection)
        except Exception as exc:
            raise ServiceUnavailable("the broker cannot be reached, so no worker can be") from exc
        if not replies:
            raise ServiceUnavailable(f"no worker answered a ping within {wait:g} s")


@dataclasses.dataclass
class Beat(HealthCheck):
    name: ClassVar[str] = "beat"
    state: str = dataclasses.field(default="ok", init=False)

    async def run(self) -> None:
        if _eager():
            self.state = EAGER
            return
        # In the request's own thread, on its database connection (closed with the request).
        last = await sync_to_async(
            lambda: Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).values_list("at", flat=True).first()
        )()
        limit = 2 * settings.FLAG_SWEEP_INTERVAL
        if last is None:
            raise ServiceUnavailable("the flag sweep has never run: is celery beat running?")
        age = (timezone.now() - last).total_seconds()
        if age > limit:
            raise ServiceUnavailable(f"the flag sweep last ran {age:.0f} s ago (more than {limit} s): is beat running?")


@dataclasses.dataclass
class FlagBacklog(HealthCheck):
    name: ClassVar[str] = "flag_backlog"

    async def run(self) -> None:
        oldest = await sync_to_async(
            lambda: FlagCheck.objects.order_by("created_at").values_list("created_at", flat=True).first()
        )()
        if oldest is None:
            return
        age = (timezone.now() - oldest).total_seconds()
        limit = settings.HEALTH_FLAG_BACKLOG_SECONDS
        if age > limit:
            raise ServiceUnavailable(
                f"the oldest pending flag check is {age:.0f} s old (more than {limit} s): flags have stopped"
            )


class HealthView(HealthCheckView):
    checks = (Database, Cache, Broker, Worker, Beat, FlagBacklog)

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        answers = {
            getattr(result.check, "name", type(result.check).__name__): (
                str(result.error) if result.error else getattr(result.check, "state", "ok")
            )
            for result in results
        }
        failed = any(result.error for result in results)
        return JsonResponse({"status": "fail" if failed else "ok", "checks": answers}, status=503 if failed else 200)


health = HealthView.as_view()
