"""
The scale-out shape, measured (not a test; figures in docs/benchmarks.md): web and
worker processes against one PostgreSQL and one Redis, under mixed public reads and
staff writes, first with one gunicorn and one worker (the baseline), then with two of
each, on the same data and the same load, in one run.

    .venv/bin/python bench/load.py                 # build, run both shapes, print the table
    .venv/bin/python bench/load.py --write         # and put the figures in docs/benchmarks.md
    .venv/bin/python bench/load.py --seconds 60    # a longer run per shape (default 30)

Its own database (BENCH_DATABASE_URL, default postgres://root@127.0.0.1:5432/tracker_load_bench,
dropped and rebuilt) with a modest data set (the demo scenario plus `SIZES`): the
public pages are being made fast at scale elsewhere, this measures the shape, not
them. Its own redis-server on a free port. gunicorn (2 sync workers each) on
BENCH_PORTS (default 8130,8131), production settings (DEBUG off, static files
collected, the throttles counting in Redis with rates too high to refuse), a
`celery worker` (concurrency 1) per web process and one `celery beat`.

The load, from this process (threads, each with its own connection, spread over the
web processes in turn), for a bounded time:
- readers: the overview `/en/`, its refresh `/en/overview/data/`, API lists;
- writers: hostility reports through the API, each with an Idempotency-Key, one in
  ten sent twice (a client that lost the answer), each overlapping a corridor window.

It reports requests/s, p50/p95/p99 by kind, errors (any answer but 2xx), and checks
that every write is stored exactly once (one report per key) and flagged (the time
for the last flag to appear after the load stopped).

The load generator runs on the same 2 cores as everything else: throughput is that of
the whole machine, and the ratio of the two shapes is the figure to compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_load_bench")
PORTS = [int(port) for port in os.environ.get("BENCH_PORTS", "8130,8131").split(",")]
DOCS = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- bench/load.py --write: start -->", "<!-- bench/load.py --write: end -->")
THROTTLE = "1000000/minute"
os.environ.update(DATABASE_URL=DATABASE_URL, DJANGO_SETTINGS_MODULE="tracker.settings", LOG_LEVEL="WARNING")
os.environ.pop("REDIS_URL", None)  # the build runs its tasks in-process
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from common import log, reset_database  # noqa: E402
from django.core.management import call_command  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from corridors.flagging import flags_reconcile_all  # noqa: E402
from corridors.models import Corridor, CorridorWindow, Flag, FlagCheck  # noqa: E402
from tracker.models import CivilianCount, HostilityReport, IdempotencyRecord, Organisation, Role, Site, Source, User  # noqa: E402

UTC = dt.UTC
START = dt.datetime(2022, 5, 1, tzinfo=UTC)
SIZES = {"sites": 300, "counts": 3_000, "corridors": 30, "windows per corridor": 10, "reports": 300}
READS = [  # (kind, path, weight)
    ("overview", "/en/", 1),
    ("overview refresh", "/en/overview/data/", 3),
    ("API sites", "/api/v1/sites/", 1),
    ("API windows", "/api/v1/windows/?flagged=true", 1),
    ("API hostilities", "/api/v1/hostilities/", 1),
]


# --- The data set ---------------------------------------------------------------------


def build(seed: int = 20220505) -> dict:
    """The demo scenario, plus SIZES of generated sites, counts, corridors, windows and reports."""
    rng = random.Random(seed)
    reset_database(DATABASE_URL)
    call_command("load_demo", verbosity=0)
    source = Source.objects.create(name="Load benchmark", kind=Source.Kind.NGO)
    organisation = Organisation.objects.create(name="Load benchmark NGO", acronym="LB")
    sites = Site.objects.bulk_create(
        Site(
            name=f"Site {n}",
            kind=rng.choice([Site.Kind.CITY, Site.Kind.SETTLEMENT, Site.Kind.SHELTER]),
            latitude=46 + rng.random() * 4,
            longitude=34 + rng.random() * 5,
            timezone="Europe/Kyiv",
        )
        for n in range(SIZES["sites"])
    )
    CivilianCount.objects.bulk_create(
        CivilianCount(
            site=rng.choice(sites),
            as_of=START + dt.timedelta(minutes=rng.randrange(60 * 24 * 30)),
            count=rng.randrange(10, 5000),
            qualifier="approximately",
            source=source,
            organisation=organisation,
        )
        for _ in range(SIZES["counts"])
    )
    corridors = [
        Corridor.objects.create(name=f"Corridor {n}", origin=origin, destination=destination, status="announced")
        for n, (origin, destination) in enumerate(zip(sites[0::2], sites[1::2], strict=False))
        if n < SIZES["corridors"]
    ]
    CorridorWindow.objects.bulk_create(
        CorridorWindow(
            corridor=corridor,
            starts_at=START + dt.timedelta(days=day, hours=5),
            ends_at=START + dt.timedelta(days=day, hours=15),
        )
        for corridor in corridors
        for day in range(SIZES["windows per corridor"])
    )
    for _ in range(SIZES["reports"]):
        HostilityReport(
            site=rng.choice(sites),
            kind=HostilityReport.Kind.SHELLING,
            started_at=START + dt.timedelta(minutes=rng.randrange(60 * 24 * 30)),
            source=source,
            organisation=organisation,
        ).save()
    flags_reconcile_all(now=dt.datetime.now(UTC))
    FlagCheck.objects.all().delete()
    writer = User.objects.create(username="load-writer", organisation=organisation, role=Role.REPORTER)
    _instance, token = AuthToken.objects.create(user=writer)
    return {
        "token": token,
        "source": source.pk,
        "origins": [corridor.origin_id for corridor in corridors],
        "reports_before": HostilityReport.objects.count(),
    }


# --- The processes ----------------------------------------------------------------------


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def app_env(redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": BENCH_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DB_CONN_MAX_AGE": "600",
        "REDIS_URL": redis_url,
        "API_THROTTLE_ANON": THROTTLE,
        "API_THROTTLE_USER": THROTTLE,
        "LOG_REQUESTS": "0",
        "FLAG_SWEEP_INTERVAL": "5",
        "FLAG_SWEEP_GRACE": "5",
    }


BENCH_SECRET = secrets.token_urlsafe(50)


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    out = log_path.open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def start_shape(webs: int, workers: int, redis_url: str, tmp: Path) -> list[subprocess.Popen]:
    env = app_env(redis_url)
    processes = []
    for n in range(webs):
        processes.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "tracker.wsgi",
                    "--config",
                    "deploy/gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{PORTS[n]}",
                    "--workers",
                    "2",
                ],
                env,
                tmp / f"web-{n}.log",
            )
        )
    for n in range(workers):
        processes.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tracker",
                    "worker",
                    "--concurrency=1",
                    "--loglevel=WARNING",
                    f"--hostname=load-{n}-{uuid.uuid4().hex[:6]}@%h",
                ],
                env,
                tmp / f"worker-{n}.log",
            )
        )
    processes.append(
        spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tracker",
                "beat",
                "--loglevel=WARNING",
                f"--schedule={tmp / 'beat-schedule'}",
            ],
            env,
            tmp / "beat.log",
        )
    )
    deadline = time.monotonic() + 90
    for port in PORTS[:webs]:
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/health/", timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn on {port} did not start; see {tmp}") from None
                time.sleep(0.5)
    time.sleep(3)  # the workers connect
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- The load ---------------------------------------------------------------------------


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keys: dict[str, int] = field(default_factory=dict)  # Idempotency-Key → report id
    replays: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1


def reader(bases: list[str], stop_at: float, results: Results, rng: random.Random) -> None:
    weighted = [(kind, path) for kind, path, weight in READS for _ in range(weight)]
    with requests.Session() as session:
        n = 0
        while time.monotonic() < stop_at:
            kind, path = rng.choice(weighted)
            started = time.perf_counter()
            try:
                ok = session.get(bases[n % len(bases)] + path, timeout=60).ok
            except requests.RequestException:
                ok = False
            results.add(kind, time.perf_counter() - started, ok)
            n += 1


def writer(bases: list[str], stop_at: float, results: Results, data: dict, rng: random.Random) -> None:
    headers = {"Authorization": f"Token {data['token']}"}
    with requests.Session() as session:
        n = 0
        while time.monotonic() < stop_at:
            key = str(uuid.uuid4())
            body = {
                "site": rng.choice(data["origins"]),
                "source": data["source"],
                "kind": "shelling",
                # Inside one of the windows (05:00–15:00 UTC on the first days of May 2022).
                "started_at": (
                    START + dt.timedelta(days=rng.randrange(SIZES["windows per corridor"]), hours=6, minutes=n % 500)
                ).isoformat(),
            }
            for attempt in range(2 if rng.random() < 0.1 else 1):
                started = time.perf_counter()
                try:
                    response = session.post(
                        bases[(n + attempt) % len(bases)] + "/api/v1/hostilities/",
                        json=body,
                        headers={**headers, "Idempotency-Key": key},
                        timeout=60,
                    )
                except requests.RequestException:
                    results.add("write (report)", time.perf_counter() - started, False)
                    continue
                results.add("write (report)", time.perf_counter() - started, response.status_code == 201)
                if response.status_code == 201:
                    with results.lock:
                        if results.keys.setdefault(key, response.json()["id"]) != response.json()["id"]:
                            results.errors["write answered with another report"] += 1
                        results.replays += response.headers.get("Idempotent-Replayed") == "true"
            n += 1


def run_load(webs: int, seconds: int, readers: int, writers: int, data: dict) -> Results:
    bases = [f"http://127.0.0.1:{port}" for port in PORTS[:webs]]
    results = Results()
    stop_at = time.monotonic() + seconds
    rng = random.Random(webs)
    threads = [
        threading.Thread(target=reader, args=(bases, stop_at, results, random.Random(rng.random())))
        for _ in range(readers)
    ]
    threads += [
        threading.Thread(target=writer, args=(bases, stop_at, results, data, random.Random(rng.random())))
        for _ in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_writes(results: Results, data: dict, timeout: float = 120) -> dict:
    """Every key stored once; every report flagged (and how long the last flag took)."""
    ids = set(results.keys.values())
    stored_once = HostilityReport.objects.filter(pk__in=ids).count() == len(ids) and IdempotencyRecord.objects.filter(
        key__in=results.keys
    ).count() == len(results.keys)
    started = time.monotonic()
    while True:
        flagged = set(
            Flag.objects.filter(hostility_id__in=ids, status="open").values_list("hostility_id", flat=True).distinct()
        )
        if flagged == ids or time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    return {
        "writes": len(ids),
        "replays": results.replays,
        "stored once": stored_once,
        "flagged": len(flagged),
        "last flag after": time.monotonic() - started,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def table(shapes: dict[str, tuple[Results, dict, int]]) -> list[str]:
    lines = [
        "| shape | kind | requests/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for shape, (results, _checks, seconds) in shapes.items():
        kinds = [kind for kind, _path, _weight in READS] + ["write (report)"]
        every: list[float] = []
        for kind in kinds:
            values = results.latencies.get(kind, [])
            every += values
            if values:
                lines.append(
                    f"| {shape} | {kind} | {len(values) / seconds:.1f} | {percentile(values, 50):.0f} | "
                    f"{percentile(values, 95):.0f} | {percentile(values, 99):.0f} | {results.errors.get(kind, 0)} |"
                )
        lines.append(
            f"| {shape} | **all** | **{len(every) / seconds:.1f}** | {percentile(every, 50):.0f} | "
            f"{percentile(every, 95):.0f} | {percentile(every, 99):.0f} | {sum(results.errors.values())} |"
        )
    return lines


def git_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def write_docs(block: str) -> None:
    text = DOCS.read_text()
    start, end = MARKERS
    if start in text:
        text = text[: text.index(start) + len(start)] + "\n" + block + "\n" + text[text.index(end) :]
    else:
        text = (
            text.rstrip("\n") + f"\n\n## Two web and two worker processes under mixed load\n\n{start}\n{block}\n{end}\n"
        )
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="load per shape (default 30)")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="put the figures in docs/benchmarks.md")
    args = parser.parse_args()
    assert shutil.which("redis-server"), "redis-server is needed"

    log(f"building the data set in {DATABASE_URL.rsplit('/', 1)[1]}")
    data = build()
    env = app_env("")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    load_before = os.getloadavg()[0]
    shapes = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_dir:
        tmp = Path(tmp_dir)
        redis_process, redis_url = start_redis(tmp)
        try:
            for label, webs, workers in (("1 web × 1 worker", 1, 1), ("2 web × 2 workers", 2, 2)):
                log(f"{label}: starting")
                processes = start_shape(webs, workers, redis_url, tmp)
                try:
                    log(f"{label}: {args.readers} readers, {args.writers} writers for {args.seconds} s")
                    results = run_load(webs, args.seconds, args.readers, args.writers, data)
                    checks = check_writes(results, data)
                finally:
                    stop(processes)
                log(f"{label}: {checks}")
                shapes[label] = (results, checks, args.seconds)
        finally:
            redis_process.terminate()

    lines = table(shapes)
    base, scaled = (sum(len(v) for v in results.latencies.values()) / s for results, _c, s in shapes.values())
    checks_lines = [
        f"- {shape}: {c['writes']} reports written ({c['replays']} retries answered from the Idempotency-Key), "
        f"stored exactly once: {'yes' if c['stored once'] else '**no**'}, flagged: {c['flagged']}/{c['writes']} "
        f"(the last {c['last flag after']:.1f} s after the load stopped)"
        for shape, (_r, c, _s) in shapes.items()
    ]
    sizes = ", ".join(f"{n:,} {what}" for what, n in SIZES.items())
    block = "\n".join(
        [
            f"Run on {dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC (commit `{git_commit()}`), a 2-core machine shared with "
            f"other work, the load generator on the same cores: `.venv/bin/python bench/load.py --seconds "
            f"{args.seconds} --write`. Data: the demo scenario plus {sizes} (modest on purpose). Each shape: "
            f"{args.readers} reader and {args.writers} writer threads for {args.seconds} s; gunicorn with 2 sync "
            "workers per web process, one `celery worker` (concurrency 1) per worker process, one beat, one "
            f"PostgreSQL, one Redis. The machine's load average (1 min) was {load_before:.1f} before the run "
            f"and {os.getloadavg()[0]:.1f} after it: on 2 cores, anything above 2 is other work competing.",
            "",
            *lines,
            "",
            *checks_lines,
            f"- Throughput of 2 × 2 against 1 × 1: {scaled / base:.2f}×.",
        ]
    )
    print(block)
    if args.write:
        write_docs(block)


if __name__ == "__main__":
    main()
