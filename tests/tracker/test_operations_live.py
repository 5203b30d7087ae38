"""
The service stays up, and says so truthfully, when Redis does not (issues 10 and 12):
real processes on the test database, as deploy/ runs them — gunicorn with production
settings, a `celery worker` with Celery's defaults, a separate `celery beat` — and a
private `redis-server` (tests/live.py) that each test stops and starts.

Every outage here lasts a second or two: what is tested is that nothing breaks and
everything catches up, not how long an outage can be.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from knox.models import AuthToken
from prometheus_client.parser import text_string_to_metric_families

from corridors.models import Flag, FlagCheck
from tests import factories
from tests.live import Gunicorn, PrivateRedis, Supervised, app_env, beat, wait_for, worker
from tracker.models import HostilityReport

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
UTC = dt.UTC
METRICS_TOKEN = "m" * 40


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def processes():
    """Stops, at the end of the test, every process the test started."""
    started = []
    yield started.append
    for process in reversed(started):
        process.stop()


@pytest.fixture
def scene(transactional_db, alice):
    """A shelter on a corridor whose window is open 05:00–15:00 UTC on 5 May 2022, and a reporter's API token."""
    shelter = factories.SiteFactory(name="Azovstal")
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=shelter)
    window = factories.WindowFactory(corridor=corridor)
    _instance, token = AuthToken.objects.create(user=alice)
    return {"site": shelter.pk, "source": factories.SourceFactory().pk, "window": window, "token": token}


@dataclass
class Load:
    """
    Public readers and staff writers against one server, each thread with its own
    connection, until stopped. Writers send an Idempotency-Key with every report and
    send one report in five twice (a client that lost the first answer).
    """

    server: Gunicorn
    scene: dict
    readers: int = 3
    writers: int = 2
    phase: str = "before"
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)  # (phase, what, status, body)
    created: dict[str, int] = field(default_factory=dict)  # Idempotency-Key → report id
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, response: requests.Response) -> None:
        with self.lock:
            self.answers.append((self.phase, what, response.status_code, response.text[:300]))

    def read(self) -> None:
        paths = ["/api/v1/sites/", "/api/v1/windows/?flagged=true", "/api/v1/hostilities/?page_size=5"]
        with requests.Session() as session:
            while not self.stop.is_set():
                for path in paths:
                    self.record(f"GET {path}", session.get(self.server.base + path, timeout=30))

    def write(self, number: int) -> None:
        headers = {"Authorization": f"Token {self.scene['token']}"}
        with requests.Session() as session:
            minute = 0
            while not self.stop.is_set():
                minute += 1
                key = str(uuid.uuid4())
                body = {
                    "site": self.scene["site"],
                    "source": self.scene["source"],
                    "kind": "shelling",
                    "started_at": f"2022-05-05T{6 + number:02d}:{minute % 60:02d}:00Z",
                    "description": f"writer {number} report {minute}",
                }
                for attempt in range(2 if minute % 5 == 0 else 1):
                    response = session.post(
                        self.server.base + "/api/v1/hostilities/",
                        json=body,
                        headers={**headers, "Idempotency-Key": key},
                        timeout=30,
                    )
                    self.record("POST /api/v1/hostilities/" + (" (again)" if attempt else ""), response)
                    if response.status_code == 201:
                        with self.lock:
                            assert self.created.setdefault(key, response.json()["id"]) == response.json()["id"]
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.read) for _ in range(self.readers)]
        self.threads += [threading.Thread(target=self.write, args=(n,)) for n in range(self.writers)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def errors(self) -> list[tuple[str, str, int, str]]:
        return [answer for answer in self.answers if answer[2] >= 500]

    def count(self, phase: str, prefix: str) -> int:
        return sum(1 for answer in self.answers if answer[0] == phase and answer[1].startswith(prefix))


def all_flagged(report_ids) -> bool:
    flagged = set(
        Flag.objects.filter(hostility_id__in=report_ids, status="open").values_list("hostility_id", flat=True)
    )
    return flagged == set(report_ids) and not FlagCheck.objects.exists()


def test_with_redis_down_reads_and_writes_succeed_and_flags_catch_up(scene, redis_server, processes, tmp_path):
    processes(worker(tmp_path, redis_server.url))
    processes(beat(tmp_path, redis_server.url))
    server = Gunicorn(tmp_path, redis_server.url)
    processes(server)

    with Load(server, scene) as load:
        time.sleep(2)
        load.phase = "down"
        redis_server.stop()
        time.sleep(4)
        load.phase = "back"
        redis_server.start()
        time.sleep(2)

    assert not load.errors(), load.errors()[:5]
    assert load.count("down", "GET") > 10 and load.count("down", "POST") > 5, "the outage was under load"
    assert {status for _phase, what, status, _body in load.answers if what.startswith("POST")} == {201}
    # Every report answered is stored, and once, whatever the retries.
    reports = HostilityReport.objects.filter(pk__in=load.created.values())
    assert reports.count() == len(load.created) == HostilityReport.objects.count()
    wait_for(lambda: all_flagged(load.created.values()), 60, "every report written, during the outage too, was flagged")
    # The outage was logged, and not once per request (at most once a minute per process).
    log = server.output()
    assert 1 <= log.count("event=cache_unavailable") <= 2, log[-3000:]
    assert 1 <= log.count("event=broker_unavailable") <= 2, log[-3000:]


def first_error(log: str) -> str:
    """The log from the error that stopped the worker, or its end."""
    start = log.find("Unrecoverable error")
    return log[start : start + 6000] if start >= 0 else log[-6000:]


def test_the_worker_survives_ten_redis_outages_under_write_load(scene, redis_server, processes, tmp_path):
    survivor = worker(tmp_path, redis_server.url, concurrency=2)
    processes(survivor)
    processes(beat(tmp_path, redis_server.url))
    server = Gunicorn(tmp_path, redis_server.url)
    processes(server)

    with Load(server, scene, readers=1, writers=2) as load:
        for outage in range(10):
            time.sleep(1.0)
            load.phase = f"down {outage}"
            redis_server.stop()
            time.sleep(1.0)
            redis_server.start()
            load.phase = "up"
            assert survivor.alive(), f"the worker died in outage {outage + 1}:\n{first_error(survivor.output())}"
        time.sleep(1)

    assert not load.errors(), load.errors()[:5]
    assert "Unrecoverable error" not in survivor.output()
    wait_for(lambda: all_flagged(load.created.values()), 60, "every report written across the outages was flagged")
    # And it still raises flags from the tasks the writes queue, within seconds.
    started = time.monotonic()
    response = requests.post(
        server.base + "/api/v1/hostilities/",
        json={
            "site": scene["site"],
            "source": scene["source"],
            "kind": "air_strike",
            "started_at": "2022-05-05T12:00Z",
        },
        headers={"Authorization": f"Token {scene['token']}"},
        timeout=30,
    )
    assert response.status_code == 201
    wait_for(lambda: all_flagged([response.json()["id"]]), 10, "a report written after the outages was flagged")
    assert time.monotonic() - started < 10
    assert survivor.alive()


def health(server: Gunicorn) -> tuple[int, dict]:
    response = server.get("/health/")
    return response.status_code, response.json()


def test_health_says_503_while_the_worker_is_dead_or_redis_is_down_and_200_after(
    scene, redis_server, processes, tmp_path
):
    first = worker(tmp_path, redis_server.url)
    processes(first)
    processes(beat(tmp_path, redis_server.url))
    server = Gunicorn(tmp_path, redis_server.url)
    processes(server)
    ok = {name: "ok" for name in ("database", "cache", "broker", "worker", "beat", "flag_backlog")}
    wait_for(lambda: health(server) == (200, {"status": "ok", "checks": ok}), 30, "/health/ said ok")

    first.kill(signal.SIGKILL)
    _status, answer = wait_for(lambda: (h := health(server))[0] == 503 and h, 30, "/health/ said 503")
    assert answer["status"] == "fail"
    assert answer["checks"]["worker"].startswith("Unavailable: no worker answered a ping")
    assert answer["checks"]["database"] == answer["checks"]["broker"] == "ok"

    processes(worker(tmp_path, redis_server.url))  # what the supervisor does
    wait_for(lambda: health(server)[0] == 200, 30, "/health/ said 200 again with a new worker")

    redis_server.stop()
    _status, answer = wait_for(lambda: (h := health(server))[0] == 503 and h, 30, "/health/ said 503")
    assert answer["checks"]["broker"] == "Unavailable: the broker cannot be reached"
    assert answer["checks"]["cache"] == "Unavailable: a value written to the cache was not read back: is Redis down?"
    assert answer["checks"]["database"] == "ok"
    assert "127.0.0.1" not in str(answer) and str(redis_server.port) not in str(answer), "no address in the answer"

    redis_server.start()
    wait_for(lambda: health(server)[0] == 200, 60, "/health/ said 200 again once Redis was back")


def test_a_worker_that_meets_an_unrecoverable_error_exits_non_zero(scene, redis_server, processes, tmp_path):
    """
    The crash of issue 10 (kombu's Redis transport failing with AttributeError while
    reconnecting), injected on purpose (tests/worker_faults.py): the worker must exit,
    and non-zero, so that its supervisor (systemd, deploy/) starts it again.
    """
    armed = tmp_path / "armed"
    doomed = worker(
        tmp_path, redis_server.url, args=("--include=tests.worker_faults",), TRACKER_TEST_FAULT_FILE=str(armed)
    )
    processes(doomed)
    armed.touch()
    redis_server.stop()
    redis_server.start()
    wait_for(lambda: not doomed.alive(), 60, "the worker stopped after the unrecoverable error")
    assert doomed.process.returncode != 0, doomed.output()[-3000:]
    assert "Unrecoverable error" in doomed.output()


def test_under_the_units_restart_policy_a_killed_or_crashed_worker_comes_back_and_flags_again(
    scene, redis_server, processes, tmp_path
):
    """
    deploy/tracker-worker.service run as systemd runs it (its ExecStart, Restart= and
    RestartSec=, by tests/live.py's Supervised): a worker killed, or stopped by the
    unrecoverable broker error of issue 10 (exiting non-zero), is started again, and the
    reports written while it was down are flagged.
    """
    armed = tmp_path / "armed"
    env = app_env(redis_server.url, TRACKER_TEST_FAULT_FILE=str(armed))
    args = ("--include=tests.worker_faults", f"--hostname=supervised-{uuid.uuid4().hex[:8]}@%h")
    supervised = Supervised("tracker-worker.service", tmp_path, env, args=args)
    processes(supervised)
    assert supervised.restart == "always"
    processes(beat(tmp_path, redis_server.url))
    server = Gunicorn(tmp_path, redis_server.url)
    processes(server)
    wait_for(supervised.ready, 60, "the worker started")

    def report(minute: int) -> int:
        response = requests.post(
            server.base + "/api/v1/hostilities/",
            json={
                "site": scene["site"],
                "source": scene["source"],
                "kind": "shelling",
                "started_at": f"2022-05-05T09:{minute:02d}:00Z",
            },
            headers={"Authorization": f"Token {scene['token']}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    reports = [report(0)]
    wait_for(lambda: all_flagged(reports), 30, "a report was flagged")

    supervised.current.kill(signal.SIGKILL)
    reports.append(report(1))
    wait_for(lambda: len(supervised.processes) == 2 and supervised.ready(), 60, "the killed worker was started again")
    assert supervised.exits == [-signal.SIGKILL]
    wait_for(lambda: all_flagged(reports), 60, "the report written while the worker was dead was flagged")

    armed.touch()
    redis_server.stop()
    redis_server.start()
    wait_for(lambda: len(supervised.exits) == 2, 60, "the worker stopped after the unrecoverable error")
    armed.unlink()  # a fault of that worker only: disarmed before the supervisor starts the next
    assert supervised.exits[1] > 0, "it exited with a failure status, not killed"
    assert "Unrecoverable error" in supervised.processes[1].output()
    reports.append(report(2))
    wait_for(lambda: len(supervised.processes) == 3 and supervised.ready(), 60, "the crashed worker was started again")
    wait_for(lambda: all_flagged(reports), 60, "the report written while it was down was flagged")
    wait_for(lambda: health(server)[0] == 200, 30, "/health/ said 200 with the new worker")
    assert len(supervised.exits) == 2


def metrics(server: Gunicorn) -> dict[tuple[str, tuple], float]:
    response = server.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_add_up_the_web_and_worker_processes(scene, redis_server, processes, tmp_path):
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "METRICS_TOKEN": METRICS_TOKEN}
    processes(worker(tmp_path, redis_server.url, concurrency=2, **env))
    server = Gunicorn(tmp_path, redis_server.url, workers=2, **env)
    processes(server)
    assert server.get("/metrics").status_code == 401

    created = []
    for minute in range(6):
        response = requests.post(
            server.base + "/api/v1/hostilities/",
            json={
                "site": scene["site"],
                "source": scene["source"],
                "kind": "shelling",
                "started_at": f"2022-05-05T07:{minute:02d}:00Z",
            },
            headers={"Authorization": f"Token {scene['token']}"},
            timeout=30,
        )
        assert response.status_code == 201
        created.append(response.json()["id"])
    wait_for(lambda: all_flagged(created), 30, "the reports were flagged")

    # Counted in the worker's processes, read through the web's.
    def counted() -> dict[str, float]:
        values = metrics(server)
        return dict(
            raised=values[("tracker_flag_events_total", (("event", "raised"),))],
            checks=values[("tracker_tasks_total", (("outcome", "succeeded"), ("task", "corridors.check_report")))],
            posts=values[
                (
                    "tracker_http_request_duration_seconds_count",
                    (("method", "POST"), ("status", "201"), ("view", "api:hostility-list")),
                )
            ],
            pending=values[("tracker_flag_checks_pending", ())],
        )

    assert counted() == {"raised": 6, "checks": 6, "posts": 6, "pending": 0}
