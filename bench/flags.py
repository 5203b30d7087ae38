"""
Benchmark of the flag engine on PostgreSQL (not a test; figures in docs/benchmarks.md).

    .venv/bin/python bench/flags.py --reports 100000 1000000

For each number of hostility reports, with 10,000 windows on 500 corridors over 500
sites, it builds the data set with COPY in its own database (BENCH_DATABASE_URL,
default postgres://root@127.0.0.1:5432/tracker_flags_bench, with the number of
reports appended to the name) and measures:

(a) the full reconciliation (every window against every report): first when it raises
    every flag, then again when nothing is left to change; against the bare SQL
    overlap join over the same indexes (the floor), and against a brute-force check in
    Python of a sample of windows, extrapolated (which also checks the engine's flags);
(b) commit of one report to its flag visible, with a real worker, p50 and p95;
(c) the peak memory (VmHWM) of a worker process running the full reconciliation.

It starts its own redis-server (port 6391) and its own workers, and leaves the
shared services alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_flags_bench")
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6391"))
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    DJANGO_SETTINGS_MODULE="tracker.settings",
    LOG_LEVEL="WARNING",
    DB_CONN_MAX_AGE="0",
)

import django  # noqa: E402

django.setup()

from common import copy_rows, log, reset_database  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from corridors import candidates, flagging  # noqa: E402
from corridors.models import Corridor, CorridorWindow, Flag  # noqa: E402
from corridors.overlap import ReportTimes, WindowTimes, overlap  # noqa: E402
from tracker import services as tracker_services  # noqa: E402
from tracker.celery import app as celery_app  # noqa: E402
from tracker.coverage import covered_interval  # noqa: E402
from tracker.localtime import to_utc  # noqa: E402
from tracker.models import HostilityReport, Role, Site, Source, User  # noqa: E402

UTC = dt.UTC
YEAR = dt.datetime(2022, 1, 1, tzinfo=UTC)
N_REGIONS, CITIES_PER_REGION, SHELTERS_PER_CITY = 20, 4, 5  # 20 + 80 + 400 = 500 sites
N_CORRIDORS, WINDOWS_PER_CORRIDOR = 500, 20  # 10,000 windows
ZONES = ["Europe/Kyiv"] * 16 + ["Europe/Warsaw", "Europe/Bucharest", "Europe/Chisinau", "Europe/Istanbul"]


def use_database(n_reports: int) -> None:
    """One database per data-set size (`<name>_<reports>`), so that `--reuse` keeps each; workers follow."""
    name = f"{DATABASE_URL.rsplit('/', 1)[1]}_{n_reports}"
    connection.close()
    connection.settings_dict["NAME"] = name
    os.environ["DATABASE_URL"] = f"{DATABASE_URL.rsplit('/', 1)[0]}/{name}"


def build(n_reports: int, seed: int = 20220504) -> dict:
    rng = random.Random(seed)
    now = timezone.now()
    log(f"building: 500 sites, {N_CORRIDORS * WINDOWS_PER_CORRIDOR:,} windows, {n_reports:,} reports")
    sites, zone_of, parent_of = [], {}, {}
    next_id = 1
    regions, cities, shelters = [], [], []
    for r in range(N_REGIONS):
        region, zone = next_id, ZONES[r]
        next_id += 1
        regions.append(region)
        sites.append((region, now, now, f"Region {r}", "region", None, 48.0, 37.0, zone, False))
        zone_of[region], parent_of[region] = zone, None
        for c in range(CITIES_PER_REGION):
            city = next_id
            next_id += 1
            cities.append((city, r))
            sites.append((city, now, now, f"City {r}.{c}", "city", region, 47.0, 37.5, zone, False))
            zone_of[city], parent_of[city] = zone, region
            for s in range(SHELTERS_PER_CITY):
                shelter = next_id
                next_id += 1
                shelters.append((shelter, r))
                sites.append((shelter, now, now, f"Shelter {r}.{c}.{s}", "shelter", city, 47.1, 37.6, zone, True))
                zone_of[shelter], parent_of[shelter] = zone, city
    copy_rows(
        "tracker_site",
        [
            "id",
            "created_at",
            "updated_at",
            "name",
            "kind",
            "parent_id",
            "latitude",
            "longitude",
            "timezone",
            "restricted",
        ],
        sites,
    )
    source = Source.objects.create(name="Bench source", kind="ngo")

    corridors, waypoints, windows = [], [], []
    window_id = 0
    for c in range(1, N_CORRIDORS + 1):
        origin, region = rng.choice(shelters)
        destination = rng.choice([city for city, r in cities if r != region])
        corridors.append((c, now, now, "unverified", f"Corridor {c}", origin, destination, False, "announced"))
        for position, (city, _) in enumerate(rng.sample(cities, rng.randint(0, 2)), start=1):
            waypoints.append((len(waypoints) + 1, c, city, position))
        for day in sorted(rng.sample(range(365), WINDOWS_PER_CORRIDOR)):
            date = (YEAR + dt.timedelta(days=day)).date()
            start = to_utc(dt.datetime.combine(date, dt.time(8)), zone_of[origin])
            end = to_utc(dt.datetime.combine(date, dt.time(18)), zone_of[origin])
            window_id += 1
            windows.append((window_id, now, now, c, start, end, False))
    copy_rows(
        "corridors_corridor",
        [
            "id",
            "created_at",
            "updated_at",
            "verification",
            "name",
            "origin_id",
            "destination_id",
            "ceasefire_announced",
            "status",
        ],
        corridors,
    )
    copy_rows("corridors_corridorwaypoint", ["id", "corridor_id", "site_id", "position"], waypoints)
    copy_rows(
        "corridors_corridorwindow",
        ["id", "created_at", "updated_at", "corridor_id", "starts_at", "ends_at", "cancelled"],
        windows,
    )

    def reports():
        site_ids = list(zone_of)
        for i in range(1, n_reports + 1):
            site = rng.choice(site_ids)
            started = YEAR + dt.timedelta(seconds=rng.randrange(365 * 86400))
            precision = rng.choices(["exact", "hour", "day"], [80, 15, 5])[0]
            ongoing = rng.random() < 0.0002
            ended = None
            if not ongoing and rng.random() < (0.7 if precision == "exact" else 0.5):
                ended = started + dt.timedelta(minutes=rng.randint(5, 240))
            verification = "retracted" if rng.random() < 0.05 else rng.choice(["unverified", "verified", "disputed"])
            start, end = covered_interval(
                started_at=started, ended_at=ended, ongoing=ongoing, precision=precision, zone_name=zone_of[site]
            ).index_bounds()
            yield (
                i,
                now,
                now,
                verification,
                source.pk,
                site,
                "shelling",
                started,
                ended,
                ongoing,
                precision,
                "",
                start,
                end,
            )

    copy_rows(
        "tracker_hostilityreport",
        [
            "id",
            "created_at",
            "updated_at",
            "verification",
            "source_id",
            "site_id",
            "kind",
            "started_at",
            "ended_at",
            "ongoing",
            "time_precision",
            "description",
            "coverage_start",
            "coverage_end",
        ],
        reports(),
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"zone_of": zone_of, "parent_of": parent_of, "source": source}


def existing_world(n_reports: int) -> dict | None:
    """The data set left by an earlier run with `--reuse`, if it has this many reports (else None)."""
    try:
        if HostilityReport.objects.count() != n_reports or not Flag.objects.exists():
            return None
    except DatabaseError:  # no such database yet
        connection.close()
        return None
    sites = list(Site.objects.values_list("pk", "timezone", "parent_id"))
    return {
        "zone_of": {pk: zone for pk, zone, _ in sites},
        "parent_of": {pk: parent for pk, _, parent in sites},
        "source": Source.objects.get(name="Bench source"),
    }


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def floor() -> int:
    """The bare overlap join: the engine's candidate query over every window at once, ids only."""
    window_ids = list(CorridorWindow.objects.values_list("pk", flat=True))
    sql, params = candidates.window_candidates_sql(window_ids, columns="w.id, r.id")
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def brute_force_sample(world: dict, sample_size: int) -> tuple[float, float, int]:
    """Every report against a sample of windows in Python, by the rule and a hand-walked site tree."""
    parent_of, zone_of = world["parent_of"], world["zone_of"]

    def chain(site):
        out = []
        while site is not None:
            out.append(site)
            site = parent_of[site]
        return out

    windows = list(CorridorWindow.objects.order_by("?")[:sample_size])
    paths = {c.pk: c.path_site_ids() for c in Corridor.objects.filter(pk__in={w.corridor_id for w in windows})}
    started = time.perf_counter()
    reports = list(
        HostilityReport.objects.values_list(
            "id", "site_id", "started_at", "ended_at", "ongoing", "time_precision", "verification"
        )
    )
    loaded = time.perf_counter()
    found: dict[tuple[int, int], tuple] = {}
    for window in windows:
        path = paths[window.corridor_id]
        touching = set()
        for site in zone_of:
            ancestors = chain(site)
            if any(p in ancestors or site in chain(p) for p in path):
                touching.add(site)
        times = WindowTimes(window.starts_at, window.ends_at, window.cancelled)
        for r_id, site, started_at, ended_at, ongoing, precision, verification in reports:
            if site not in touching:
                continue
            hit = overlap(
                times, ReportTimes(started_at, ended_at, ongoing, precision, zone_of[site], verification == "retracted")
            )
            if hit is not None:
                found[(window.pk, r_id)] = (hit.start, hit.end, hit.certainty)
    load, per_window = loaded - started, (time.perf_counter() - loaded) / len(windows)
    engine = {
        (f.window_id, f.hostility_id): (f.overlap_start, f.overlap_end, f.certainty)
        for f in Flag.objects.filter(window__in=windows, status="open")
    }
    assert engine == found, f"engine and brute force disagree on {len(set(engine) ^ set(found))} pairs"
    return load, per_window, len(found)


class Redis:
    def __enter__(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait()


class Worker:
    def __init__(self, pool: str, log_path: Path):
        self.log_path = log_path
        env = {**os.environ, "LOG_LEVEL": "INFO", "DB_CONN_MAX_AGE": "60"}
        with log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tracker",
                    "worker",
                    f"--pool={pool}",
                    "--concurrency=1",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while " ready." not in log_path.read_text(errors="replace"):
            assert self.process.poll() is None, log_path.read_text()
            time.sleep(0.1)

    def peak_memory_kib(self, pid: int | None = None) -> int:
        status = Path(f"/proc/{pid or self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def latency(world: dict, samples: int, tmp: Path) -> list[float]:
    """Commit of one report (through the service) to its flag visible, with a real worker."""
    user, _ = User.objects.get_or_create(username="bench", defaults={"role": Role.ADMIN})
    rng = random.Random(7)
    worker = Worker("prefork", tmp / "latency-worker.log")
    celery_app.conf.task_always_eager = False
    results, probes = [], []
    try:
        windows = list(CorridorWindow.objects.select_related("corridor").order_by("?")[: samples + 3])
        for i, window in enumerate(windows):
            report = HostilityReport(
                site_id=window.corridor.origin_id,
                kind="shelling",
                source=world["source"],
                started_at=window.starts_at + dt.timedelta(minutes=rng.randint(0, 500)),
            )
            started = time.perf_counter()
            tracker_services.hostility_report_save(report=report, user=user)
            probes.append(report.pk)
            while not Flag.objects.filter(hostility=report).exists():
                time.sleep(0.002)
            if i >= 3:  # the first ones warm the worker up
                results.append(time.perf_counter() - started)
    finally:
        worker.stop()
        # Leave the data set as built, so that --reuse finds it again.
        Flag.objects.filter(hostility__in=probes).delete()
        HostilityReport.objects.filter(pk__in=probes).delete()
    return results


def sweep_memory(tmp: Path) -> tuple[int, int, float]:
    """Peak RSS of a worker (solo pool: the task runs in the main process) before and after a full reconciliation."""
    worker = Worker("solo", tmp / "memory-worker.log")
    try:
        celery_app.conf.task_always_eager = False
        time.sleep(1)
        before = worker.peak_memory_kib()
        started = time.perf_counter()
        celery_app.send_task("corridors.reconcile_all_flags")
        while (
            "reconcile_all_flags" not in worker.log_path.read_text() or "succeeded" not in worker.log_path.read_text()
        ):
            assert worker.process.poll() is None
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        return before, worker.peak_memory_kib(), elapsed
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=10, help="windows in the brute-force sample")
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the data set and flags of an earlier run with as many reports (no first-reconciliation figure)",
    )
    args = parser.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "tracker-flags-bench"
    tmp.mkdir(exist_ok=True)
    rows = []
    with Redis():
        for n in args.reports:
            use_database(n)
            world = existing_world(n) if args.reuse else None
            if world is None:
                reset_database(DATABASE_URL)
                build_time, world = timed(build, n)
                log(f"built in {build_time:.0f} s")
                raise_time, outcome = timed(flagging.flags_reconcile_all, now=timezone.now())
                flags = outcome.raised
                log(f"first full reconciliation: {flags:,} flags raised in {raise_time:.1f} s")
                first = f"{raise_time:.1f} s"
            else:
                flags, first = Flag.objects.filter(status="open").count(), "(reused)"
                log(f"reusing the data set of an earlier run: {n:,} reports, {flags:,} flags")
            steady = []
            for _ in range(3):
                elapsed, outcome = timed(flagging.flags_reconcile_all, now=timezone.now())
                assert not outcome, "a second reconciliation changed something"
                steady.append(elapsed)
            floor_times = []
            for _ in range(3):
                elapsed, pairs = timed(floor)
                floor_times.append(elapsed)
            assert pairs >= flags
            steady_time, floor_time = statistics.median(steady), statistics.median(floor_times)
            log(f"steady reconciliation {steady_time:.2f} s; bare join {floor_time:.2f} s ({pairs:,} candidate pairs)")
            load, per_window, found = brute_force_sample(world, args.sample)
            brute_total = load + per_window * N_CORRIDORS * WINDOWS_PER_CORRIDOR
            log(
                f"brute force: loading {load:.1f} s, then {per_window:.2f} s a window ({args.sample} windows, "
                f"{found} flags, the same as the engine's)"
            )
            memory = sweep_memory(tmp)
            log(f"worker peak RSS {memory[0] // 1024} -> {memory[1] // 1024} MiB, reconciliation {memory[2]:.1f} s")
            lat = latency(world, args.latency_samples, tmp)
            p50, p95 = statistics.median(lat), statistics.quantiles(lat, n=20)[18]
            log(f"commit to flag: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms over {len(lat)}")
            rows.append(
                f"| {n:,} | {flags:,} | {first} | {steady_time:.2f} s | {floor_time:.2f} s | "
                f"{steady_time / floor_time:.2f}× | {brute_total:,.0f} s | {p50 * 1000:.0f} / {p95 * 1000:.0f} ms | "
                f"{memory[0] // 1024} → {memory[1] // 1024} MiB |"
            )
    print()
    print(
        "| reports | flags | first reconciliation (raises all) | reconciliation, nothing to change "
        "| bare overlap join | ratio | brute force, extrapolated | commit → flag p50 / p95 "
        "| worker peak RSS, before → after a reconciliation |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
