"""
The flag engine end to end: PostgreSQL, a real Redis and a real `celery worker`
process started here, on the pytest test database. The tests commit (transactional
tests), so the worker sees what they write.

The machine running these may be busy: each test first waits for its worker to
raise one flag (start-up, imports, connections), then measures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import kombu.pools
import psycopg
import pytest
import redis
from django.conf import settings
from django.core.cache import cache as shared_cache
from django.db import connection, transaction

from corridors.models import Corridor, CorridorWindow, Flag, FlagCheck
from tests import factories
from tracker import pagecache
from tracker import services as tracker_services
from tracker.celery import app as celery_app
from tracker.models import HostilityReport

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
BOUND = 5.0  # seconds from commit to flag (the promise)
PRIVATE_REDIS_PORTS = range(6390, 6400)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def wait_for(predicate, timeout, what, interval=0.05):
    """Poll until `predicate()` is true; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"within {timeout:.0f} s: {what}")


def database_url() -> str:
    """The test database (test_<name>), for the worker process."""
    db = connection.settings_dict
    user = db["USER"] or ""
    if db["PASSWORD"]:
        user += f":{db['PASSWORD']}"
    return f"postgres://{user}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A `celery worker` (optionally with an embedded beat) in its own process group."""

    def __init__(self, tmp_path: Path, broker: str, *, beat: bool = False):
        self.log = tmp_path / f"worker-{uuid.uuid4().hex[:8]}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": broker,
            "CELERY_BROKER_URL": broker,
            "LOG_LEVEL": "INFO",
            "FLAG_SWEEP_INTERVAL": "1",
            "FLAG_SWEEP_GRACE": "0",
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracker",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            f"--hostname=flags-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            command += ["--beat", f"--schedule={tmp_path / 'beat-schedule'}"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: " ready." in self.output() or self.process.poll() is not None, timeout, "the worker started")
        assert self.process.poll() is None, self.output()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def broker_url():
    """The shared test Redis (REDIS_URL), emptied of queued tasks from earlier tests."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    return settings.REDIS_URL


@contextlib.contextmanager
def publishing_to(url: str):
    """Send this process's tasks to `url` instead of the configured broker."""
    previous = celery_app.conf.broker_url
    forget_connections()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        forget_connections()
        celery_app.conf.broker_url = previous


def forget_connections():
    """
    Close the broker connections and forget the pools. kombu keeps one pool per broker
    URL for the whole process: one that is only closed would refuse every later task,
    eager ones included, of every later test.
    """
    kombu.pools.reset()
    celery_app._after_fork()  # drops the app's references to the old pools


@pytest.fixture
def real_broker(transactional_db):
    """Queue tasks to the broker, as production does, instead of running them in-process."""
    celery_app.conf.task_always_eager = False  # the autouse fixture in conftest restores it


@pytest.fixture
def workers(tmp_path, real_broker):
    started: list[Worker] = []

    def start(broker: str, *, beat: bool = False) -> Worker:
        worker = Worker(tmp_path, broker, beat=beat)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def scene(transactional_db, dave):
    """A corridor from a shelter inside a city, and one window 05:00–15:00 UTC on 5 May 2022."""
    city = factories.SiteFactory(name="Mariupol")
    shelter = factories.SiteFactory(name="Azovstal", parent=city)
    corridor = Corridor.objects.create(
        name="Azovstal → Zaporizhzhia", origin=shelter, destination=factories.SiteFactory()
    )
    window = CorridorWindow.objects.create(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))
    return {"city": city, "shelter": shelter, "window": window, "source": factories.SourceFactory(), "user": dave}


def save_report(scene, minute: int, **fields) -> HostilityReport:
    """A report inside the window, saved and committed through the service."""
    report = HostilityReport(
        site=scene["city"],
        kind="shelling",
        source=scene["source"],
        started_at=utc(2022, 5, 5, 6) + dt.timedelta(minutes=minute),
        **fields,
    )
    with transaction.atomic():
        tracker_services.hostility_report_save(report=report, user=scene["user"])
    return report


def flag_count(report: HostilityReport) -> int:
    return Flag.objects.filter(hostility=report, status="open").count()


def test_a_committed_report_gets_its_flag_within_seconds(scene, workers, broker_url):
    workers(broker_url)
    warm_up = save_report(scene, 0)
    wait_for(lambda: flag_count(warm_up), 60, "the warm-up report was flagged")

    timings = []
    for minute in (1, 2, 3):
        # Timed from before the save: an upper bound on "from the commit".
        started = time.monotonic()
        report = save_report(scene, minute)
        wait_for(lambda r=report: flag_count(r), BOUND, f"report {report.pk} was flagged", interval=0.01)
        timings.append(time.monotonic() - started)
    assert max(timings) <= BOUND, timings
    assert not FlagCheck.objects.exists(), "each check consumed its outbox marker"


def test_a_rolled_back_transaction_queues_nothing(scene, real_broker, broker_url):
    queue = redis.Redis.from_url(broker_url)
    with pytest.raises(RuntimeError), transaction.atomic():
        save_report(scene, 0)
        raise RuntimeError("the request fails after the save")
    assert queue.llen("celery") == 0
    assert not HostilityReport.objects.exists()
    assert not FlagCheck.objects.exists()

    save_report(scene, 1)  # the control: a commit does queue its check
    assert queue.llen("celery") == 1


def test_a_worker_killed_mid_task_leaves_the_right_flags_and_no_duplicates(scene, workers, broker_url):
    first = workers(broker_url)
    warm_up = save_report(scene, 0)
    wait_for(lambda: flag_count(warm_up), 60, "the warm-up report was flagged")

    # Hold the window's row lock, so the next check blocks inside its transaction.
    # (A second connection watches: statistics views are frozen within a transaction.)
    url = database_url().replace("postgres://", "postgresql://")
    with psycopg.connect(url) as blocker, psycopg.connect(url, autocommit=True) as watcher:
        blocker.execute("SELECT id FROM corridors_corridorwindow WHERE id = %s FOR UPDATE", [scene["window"].pk])
        report = save_report(scene, 1)
        wait_for(
            lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE %s",
                ["%FOR NO KEY UPDATE%"],
            ).fetchone()[0],
            30,
            "the worker's check was waiting for the window's lock",
        )
        first.kill(signal.SIGKILL)
        blocker.rollback()

    assert flag_count(report) == 0
    assert FlagCheck.objects.filter(target="report", target_id=report.pk).exists()
    # The killed task's message stays unacknowledged in Redis until its visibility
    # timeout; the new worker's beat sweeps the outbox marker it left long before that.
    workers(broker_url, beat=True)
    wait_for(lambda: flag_count(report) and not FlagCheck.objects.exists(), 60, "the sweep raised the lost flag")
    assert Flag.objects.filter(hostility=report).count() == 1
    assert Flag.objects.count() == 2
    assert Flag.history.count() == 2, "each flag raised once"


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of our own, to stop and start (never the shared one)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for the broker outage test"
    for port in PRIVATE_REDIS_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
    else:
        pytest.fail("no free port in 6390–6399 for a private redis-server")

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for(lambda: self.ping(), 10, "the private redis-server started")

        def ping(self) -> bool:
            try:
                return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
            except redis.ConnectionError:
                return False

        def stop(self) -> None:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=10)

    server = Server()
    server.start()
    yield server
    server.stop()


def test_with_the_broker_down_writes_succeed_and_the_sweep_restores_every_flag(scene, workers, private_redis):
    with publishing_to(private_redis.url):
        workers(private_redis.url, beat=True)
        warm_up = save_report(scene, 0)
        wait_for(lambda: flag_count(warm_up), 60, "the warm-up report was flagged")

        private_redis.stop()
        during = [save_report(scene, minute) for minute in (1, 2, 3)]  # no error: committed
        assert HostilityReport.objects.count() == 4
        assert FlagCheck.objects.filter(target="report").count() == 3
        assert sum(flag_count(r) for r in during) == 0

        private_redis.start()
        wait_for(
            lambda: all(flag_count(r) for r in during) and not FlagCheck.objects.exists(),
            90,
            "the sweep restored the flags of the reports written while Redis was down",
        )
    assert Flag.objects.filter(status="open").count() == 4
    assert Flag.history.count() == 4


def test_a_flag_the_worker_raises_is_on_the_overviews_next_refresh(scene, workers, broker_url, client, monkeypatch):
    """
    The worker starts a new generation of the kept pages in the shared cache (Redis),
    which the web process reads within a second (tracker/pagecache.py).
    """
    monkeypatch.setattr(pagecache, "cache", shared_cache)  # the one the worker writes to
    monkeypatch.setattr(pagecache, "local", pagecache.Local())
    workers(broker_url)
    assert "badge flag" not in client.get("/en/overview/data/").content.decode()
    report = save_report(scene, 0)
    client.get("/en/overview/data/")  # kept meanwhile, before the worker's check (or just after it)
    wait_for(lambda: flag_count(report), 60, "the worker raised the flag")
    raised = time.monotonic()
    wait_for(
        lambda: "1 flag<" in client.get("/en/overview/data/").content.decode(),
        pagecache.LOCAL_SECONDS + 5,
        "the flag was on the overview's data",
    )
    assert time.monotonic() - raised < pagecache.MAX_AGE
