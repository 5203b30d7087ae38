"""
Operating the service, in-process: the cache that fails open, the log lines, /health/
and /metrics as the embedded mode and a scraper see them, their settings. The same
against real processes and a Redis that goes away: test_operations_live.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import kombu.exceptions
import pytest
import redis
import time_machine
from asgiref.sync import async_to_sync
from django.core.cache import caches
from django.test import override_settings
from kombu import Connection
from kombu.common import ignore_errors
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.throttling import SimpleRateThrottle

from corridors.models import FlagCheck
from corridors.tasks import SWEEP_HEARTBEAT, OutboxTask
from tests.api import api
from tests.live import PrivateRedis, free_port
from tests.tracker.test_settings import PRODUCTION, manage
from tracker import health
from tracker.cache import FailOpenRedisCacheClient
from tracker.celery import app as celery_app
from tracker.logs import JSONFormatter, PlainFormatter, warn_throttled
from tracker.models import Heartbeat

UTC = dt.UTC
NOW = dt.datetime(2022, 5, 5, 9, 0, tzinfo=UTC)
TOKEN = "t" * 40


def dead_redis_cache(port: int, **options) -> dict:
    return {
        "default": {
            "BACKEND": "tracker.cache.FailOpenRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, **options},
        }
    }


# --- The cache fails open ---------------------------------------------------------------


@pytest.mark.redis
def test_with_redis_down_the_cache_misses_and_drops_writes_with_one_warning_then_comes_back(tmp_path, caplog):
    server = PrivateRedis(tmp_path)
    with override_settings(CACHES=dead_redis_cache(server.port, retry_after=0)):
        cache = caches["default"]
        with caplog.at_level(logging.WARNING, logger="tracker.cache"):
            for _ in range(20):
                assert cache.get("k", "default") == "default"
                cache.set("k", "v")
            assert cache.add("k", "v") is True  # as DummyCache: stored nowhere
            assert cache.get_many(["k"]) == {}
            assert cache.has_key("k") is False
            assert cache.delete("k") is False
            with pytest.raises(ValueError, match="not found"):
                cache.incr("counter")
        warnings = [r.getMessage() for r in caplog.records if "cache_unavailable" in r.getMessage()]
        assert len(warnings) == 1, "one warning, not one per call"

        server.start()
        try:
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="tracker.cache"):
                cache.set("k", "v")
                assert cache.get("k") == "v"
            assert any("cache_available" in r.getMessage() for r in caplog.records)
        finally:
            server.stop()


def test_after_a_failure_the_cache_is_left_alone_for_a_while(monkeypatch):
    """A Redis that does not answer must not cost every request a timeout."""
    client = FailOpenRedisCacheClient([f"redis://127.0.0.1:{free_port()}/0"], retry_after=60)
    calls = []
    real = client.get_client
    monkeypatch.setattr(client, "get_client", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(10):
        assert client.get("k", None) is None
    assert len(calls) == 1


@pytest.mark.django_db
def test_with_the_cache_down_the_api_answers_instead_of_500(public, monkeypatch):
    """The throttles count in the cache: with Redis gone, they let requests through."""
    with override_settings(CACHES=dead_redis_cache(free_port())):
        monkeypatch.setattr(SimpleRateThrottle, "cache", caches["default"])
        for path in ("/api/v1/sites/", "/api/v1/windows/?flagged=true", "/api/v1/hostilities/"):
            assert api().get(path).status_code == 200


# --- Queueing a task with the broker down ------------------------------------------------


def test_with_the_broker_down_a_write_does_not_wait_for_it_again_for_a_while(monkeypatch, caplog):
    """One failed publish, then the outbox and the sweep: later writes do not try the broker each."""
    task = celery_app.tasks["corridors.check_report"]
    attempts = []

    def unreachable(*args, **kwargs):
        attempts.append(args)
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    celery_app.conf.task_always_eager = False  # as with a broker (conftest puts it back)
    monkeypatch.setattr(task, "delay", unreachable)
    monkeypatch.setattr(OutboxTask, "_broker_down_until", {})
    with caplog.at_level(logging.WARNING, logger="corridors.flags"):
        for report_id in range(5):
            task._publish((report_id,), {})  # what delay_on_commit runs after the commit
    assert attempts == [(0,)]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("event=broker_unavailable task=corridors.check_report args=(0,) error=OperationalError")


# --- The broker transport --------------------------------------------------------------


@pytest.mark.redis
def test_a_channel_left_without_its_connection_fails_with_a_connection_error_and_loses_nothing(tmp_path):
    """
    What stopped the worker for good (issue 10): Celery drops a broken connection's
    transport link, then closes its channel, which asks for a new client to give its
    unacknowledged messages back. With kombu's transport: AttributeError, "Unrecoverable
    error". With ours: a connection error, which Celery ignores there, and reconnects.
    """
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        with Connection(server.url) as producer:
            producer.SimpleQueue("checks").put({"report": 1})
        connection = Connection(server.url, transport="tracker.broker:Transport")
        channel = connection.default_channel
        message = connection.SimpleQueue("checks", channel=channel).get(timeout=5)
        assert message.payload == {"report": 1}  # delivered, not acknowledged

        channel._disconnect_pools()  # as closing the broken connection does
        connection._do_close_transport()  # as Celery's collect() does
        with pytest.raises(RedisConnectionError):
            channel.qos.restore_unacked()
        ignore_errors(connection, channel.qos.restore_unacked)  # how Celery calls it: no error escapes

        unacked = redis.Redis.from_url(server.url).hgetall("unacked")
        assert len(unacked) == 1, "Redis still holds the message, for the next worker or the visibility timeout"
        channel.qos._on_collect.cancel()  # no second attempt when the channel is garbage-collected
    finally:
        server.stop()


# --- Logs -------------------------------------------------------------------------------


def record(message: str, *args, **extra) -> logging.LogRecord:
    made = logging.LogRecord("tracker.requests", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    made.created = NOW.timestamp()
    return made


def test_plain_lines_are_stamped_in_utc_with_the_offset():
    line = PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(record("event=x n=%d", 3))
    assert line == "2022-05-05T09:00:00.000+00:00 INFO tracker.requests event=x n=3"


def test_json_lines_carry_the_fields_of_the_event():
    line = JSONFormatter().format(record("event=request status=%s", 200, status=200, view="api:site-list"))
    assert json.loads(line) == {
        "time": "2022-05-05T09:00:00.000+00:00",
        "level": "INFO",
        "logger": "tracker.requests",
        "message": "event=request status=200",
        "status": 200,
        "view": "api:site-list",
    }


def test_a_repeated_warning_is_said_once_a_while_with_how_many_were_held_back(caplog):
    logger = logging.getLogger("tracker.test")
    with caplog.at_level(logging.WARNING, logger="tracker.test"):
        said = [warn_throttled(logger, "test-key", "event=down", interval=3600) for _ in range(5)]
    assert said == [True, False, False, False, False]
    assert [r.getMessage() for r in caplog.records] == ["event=down"]


@pytest.mark.django_db
def test_each_request_writes_one_line(public, settings, caplog, alice):
    settings.LOG_REQUESTS = True
    with caplog.at_level(logging.INFO, logger="tracker.requests"):
        public.get("/api/v1/sites/?page_size=2")
        api(alice).get("/api/v1/hostilities/")
    lines = [r for r in caplog.records if r.name == "tracker.requests"]
    assert len(lines) == 2, "one line per request"
    assert (
        lines[0].getMessage().startswith("event=request method=GET path=/api/v1/sites/ view=api:site-list status=200")
    )
    assert lines[0].getMessage().endswith(" user=-")
    assert lines[1].getMessage().endswith(f" user={alice.pk}")
    assert re.search(r" duration_ms=\d+\.\d ", lines[1].getMessage())
    assert (lines[1].status, lines[1].view, lines[1].user) == (200, "api:hostility-list", alice.pk)
    assert "page_size" not in lines[0].getMessage(), "no query string"


@pytest.mark.django_db
def test_the_embedded_default_writes_no_line_per_request(public, caplog):
    with caplog.at_level(logging.INFO, logger="tracker.requests"):
        public.get("/api/v1/sites/")
    assert not [r for r in caplog.records if r.name == "tracker.requests"]


@pytest.mark.django_db
def test_each_task_writes_one_line(settings, caplog):
    settings.LOG_REQUESTS = True
    with caplog.at_level(logging.INFO, logger="tracker.tasks"):
        celery_app.tasks["corridors.sweep_flags"].delay()
    [line] = [r for r in caplog.records if r.name == "tracker.tasks"]
    assert line.getMessage().startswith("event=task task=corridors.sweep_flags id=")
    assert line.state == "SUCCESS" and line.duration_ms >= 0


# --- Health -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_in_the_embedded_mode_is_ok_with_tasks_run_eagerly(public):
    response = public.get("/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "cache": "ok",
            "broker": "eager",
            "worker": "eager",
            "beat": "eager",
            "flag_backlog": "ok",
        },
    }
    assert "no-cache" in response["Cache-Control"]


def run(check) -> str | None:
    # As the view runs it: database work on this thread's connection (thread_sensitive).
    result = async_to_sync(check.get_result)()
    return str(result.error) if result.error else None


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_the_backlog_check_fails_once_the_oldest_pending_check_is_too_old(settings):
    settings.HEALTH_FLAG_BACKLOG_SECONDS = 600
    assert run(health.FlagBacklog()) is None
    FlagCheck.objects.create(target="report", target_id=1, created_at=NOW - dt.timedelta(seconds=599))
    assert run(health.FlagBacklog()) is None
    FlagCheck.objects.create(target="report", target_id=2, created_at=NOW - dt.timedelta(seconds=601))
    assert run(health.FlagBacklog()) == (
        "Unavailable: the oldest pending flag check is 601 s old (more than 600 s): flags have stopped"
    )


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_the_beat_check_fails_when_the_sweep_has_not_run_for_two_intervals(settings):
    celery_app.conf.task_always_eager = False  # as with a broker (conftest puts it back)
    settings.FLAG_SWEEP_INTERVAL = 300
    assert run(health.Beat()) == "Unavailable: the flag sweep has never run: is celery beat running?"
    Heartbeat.objects.create(name=SWEEP_HEARTBEAT, at=NOW - dt.timedelta(seconds=600))
    assert run(health.Beat()) is None
    Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).update(at=NOW - dt.timedelta(seconds=601))
    assert run(health.Beat()) == "Unavailable: the flag sweep last ran 601 s ago (more than 600 s): is beat running?"


@pytest.mark.django_db
def test_the_sweep_leaves_its_heartbeat():
    celery_app.tasks["corridors.sweep_flags"].delay()
    assert Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).exists()


# --- Metrics ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_token_set_there_is_no_metrics_endpoint(public):
    assert public.get("/metrics").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["", "Bearer wrong", f"Token {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_want_the_token(public, settings, header):
    settings.METRICS_TOKEN = TOKEN
    response = public.get("/metrics", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_metrics_count_requests_by_view_and_read_the_flag_engine_from_the_database(public, settings):
    settings.METRICS_TOKEN = TOKEN
    FlagCheck.objects.create(target="report", target_id=1, created_at=NOW - dt.timedelta(seconds=42))
    public.get("/api/v1/windows/")
    body = public.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert re.search(
        r'^tracker_http_request_duration_seconds_count\{method="GET",status="200",view="api:window-list"\} [1-9]',
        body,
        re.M,
    )
    assert "\ntracker_flag_checks_pending 1.0\n" in body
    assert "\ntracker_flag_checks_oldest_age_seconds 42.0\n" in body
    assert '\ntracker_flags{status="open"} 0.0\n' in body
    assert '\ntracker_flag_events_total{event="raised"}' in body


# --- Settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not plain or json"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN is too short"),
        ({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/metrics"}, "PROMETHEUS_MULTIPROC_DIR='/nonexistent/metrics'"),
        ({"HEALTH_WORKER_TIMEOUT": "0"}, "HEALTH_WORKER_TIMEOUT='0' must be at least 1"),
    ],
)
def test_a_bad_operations_setting_stops_start_up_with_a_message_naming_it(env, message):
    result = manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_deploy_check_passes_with_the_operations_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        LOG_FORMAT="json",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
