"""
Benchmark of the REST API under gunicorn on PostgreSQL, against plain Django views that
return the same rows (not a test; figures in docs/benchmarks.md).

    .venv/bin/python bench/api.py            # build, serve, measure, print the table
    .venv/bin/python bench/api.py --write    # and put the figures in docs/benchmarks.md

It builds its data set with COPY in its own database (BENCH_DATABASE_URL, default
postgres://root@127.0.0.1:5432/tracker_api_bench; `--reuse` keeps the one a previous run
built): 10,000 sites in a tree, 100,000 civilian counts, 500 corridors with 10,000
windows, hostility reports, flags, departures and arrivals (numbers: `describe()`).

It then starts gunicorn (sync workers, a fixed number) with production settings (DEBUG
off, a SECRET_KEY, ALLOWED_HOSTS, persistent database connections, no Redis: the
throttles count in each worker's memory, their rates raised so that they never refuse),
serving the project's URLs and, beside them, the floor: plain Django views returning
the same JSON through JsonResponse (bench/api_floor.py, mounted by bench/api_settings.py
with `--pythonpath bench`; nothing is added to the app). It checks that each endpoint
and its floor answer with the same bytes, then loads them with wrk (Debian's package,
installed with apt-get when missing) in short alternating slices (2 s by default): the
API, then its floor, then the floor first, and so on, the two endpoints taking turns, so
that the load of a shared machine, which changes from second to second, falls on both
alike. It prints requests/s over all slices, p50 and p95 latency over all requests (the
slices' histograms pooled), the ratio API/floor of the throughputs (the figure that
counts on a noisy machine) and the spread of the slices' ratios.

wrk rather than a Python client: a Python client with enough concurrent connections to
keep the workers busy would need about a core of its own on a 2-core machine, and would
measure itself; wrk (C, one thread) stays at a few percent of a core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_api_bench")
PORT = int(os.environ.get("BENCH_PORT", "8392"))
BASE = f"http://127.0.0.1:{PORT}"
DOCS = ROOT / "docs" / "benchmarks.md"
# High enough never to refuse a request; the window stays one second, so that each
# worker's throttle history holds about as many entries as a production rate's would.
THROTTLE = "1000000/second"
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    DJANGO_SETTINGS_MODULE="tracker.settings",
    LOG_LEVEL="WARNING",
    API_THROTTLE_ANON=THROTTLE,
    API_THROTTLE_USER=THROTTLE,
)
os.environ.pop("REDIS_URL", None)
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from common import copy_rows, log, reset_database  # noqa: E402
from django.db import connection  # noqa: E402

from tracker.coverage import covered_interval  # noqa: E402
from tracker.localtime import to_utc  # noqa: E402

# (label, the API's path, the floor's path)
ENDPOINTS = [
    ("counts", "/api/v1/counts/?page_size=100", "/floor/api/v1/counts/?page_size=100"),
    ("windows", "/api/v1/windows/?flagged=true", "/floor/api/v1/windows/?flagged=true"),
]

UTC = dt.UTC
START = dt.datetime(2022, 2, 24, tzinfo=UTC)
DAYS = 310  # to the end of 2022
N_REGIONS, CITIES_PER_REGION, N_SITES = 25, 10, 10_000
N_COUNTS, N_SOURCES, N_CORRIDORS, WINDOWS_PER_CORRIDOR = 100_000, 40, 500, 20
N_BACKGROUND_REPORTS = 20_000
LEAF_KINDS = {"shelter": 45, "settlement": 25, "facility": 12, "reception_centre": 10, "crossing": 8}
REGION_ZONES = ["Europe/Kyiv"] * 21 + ["Europe/Chisinau", "Europe/Warsaw", "Europe/Bucharest", "Europe/Budapest"]
MARKERS = ("<!-- bench/api.py --write: start -->", "<!-- bench/api.py --write: end -->")


# --- The data set ---------------------------------------------------------------------


def stamped(rng: random.Random, when: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """created_at a little after `when` (with microseconds, as auto_now writes them); a fifth edited later."""
    created = when + dt.timedelta(seconds=rng.randint(60, 36 * 3600), microseconds=rng.randrange(1_000_000))
    updated = created + dt.timedelta(seconds=rng.randint(60, 20 * 86400)) if rng.random() < 0.2 else created
    return created, updated


def instant(rng: random.Random) -> dt.datetime:
    """A whole minute in the data set's ten months."""
    return START + dt.timedelta(minutes=rng.randrange(DAYS * 24 * 60))


def build(seed: int = 20220224) -> None:
    from tracker.models import Organisation, Role, Source, User

    rng = random.Random(seed)
    origin_of_time = START - dt.timedelta(days=7)
    organisations = [Organisation.objects.create(name=f"NGO {i}", acronym=f"N{i}") for i in range(6)]
    users = [
        User.objects.create(username=f"reporter{i}", role=Role.REPORTER, organisation=organisations[i % 6])
        for i in range(12)
    ]
    kinds = ["official", "military", "un", "ngo", "media", "social_media", "field_team", "other"]
    sources = [Source.objects.create(name=f"Source {i}", kind=kinds[i % len(kinds)]) for i in range(N_SOURCES)]
    attribution = [(u.organisation_id, u.pk) for u in users]

    def attributed() -> tuple[int | None, int | None]:
        # Most figures are entered by staff; some were imported with no one's name on them.
        return rng.choice(attribution) if rng.random() < 0.85 else (None, None)

    # Sites: 25 regions (4 in neighbouring countries' zones), 10 cities each, and 9,750
    # shelters, settlements, facilities, reception centres and crossings under the cities.
    sites, zone_of, kind_of, city_of_region = [], {}, {}, {}
    next_id = 1

    def add(name, kind, parent, lat, lon, zone, restricted):
        nonlocal next_id
        pk = next_id
        next_id += 1
        created, updated = stamped(rng, origin_of_time)
        sites.append((pk, created, updated, name, kind, parent, round(lat, 6), round(lon, 6), zone, restricted))
        zone_of[pk], kind_of[pk] = zone, kind
        return pk

    cities = []
    for r in range(N_REGIONS):
        zone = REGION_ZONES[r]
        lat, lon = rng.uniform(45.5, 51.5), rng.uniform(23.0, 39.5)
        region = add(f"Region {r}", "region", None, lat, lon, zone, False)
        city_of_region[region] = []
        for c in range(CITIES_PER_REGION):
            city = add(
                f"City {r}.{c}",
                "city",
                region,
                lat + rng.uniform(-1, 1),
                lon + rng.uniform(-1, 1),
                zone,
                False,
            )
            cities.append((city, r, lat, lon))
            city_of_region[region].append(city)
    leaves = []
    for i in range(N_SITES - len(sites)):
        city, r, lat, lon = cities[i % len(cities)]
        kind = rng.choices(list(LEAF_KINDS), list(LEAF_KINDS.values()))[0]
        restricted = (kind == "shelter" and rng.random() < 0.7) or (kind == "facility" and rng.random() < 0.1)
        leaf = add(
            f"{kind.replace('_', ' ').capitalize()} {i}",
            kind,
            city,
            lat + rng.uniform(-1.1, 1.1),
            lon + rng.uniform(-1.1, 1.1),
            REGION_ZONES[r],
            restricted,
        )
        leaves.append((leaf, r))
    site_columns = ["id", "created_at", "updated_at", "name", "kind", "parent_id", "latitude", "longitude"]
    copy_rows("tracker_site", [*site_columns, "timezone", "restricted"], sites)

    # Counts: most at shelters and cities; a tenth are ranges; every qualifier and verification.
    counted = [pk for pk, kind in kind_of.items() if kind in ("shelter", "city", "settlement", "reception_centre")]

    def counts():
        for pk in range(1, N_COUNTS + 1):
            as_of = instant(rng)
            count = int(rng.lognormvariate(5.5, 1.3))
            high = count + rng.randint(1, max(1, count // 2)) if rng.random() < 0.1 else None
            qualifier = rng.choices(["exact", "approximately", "at_least", "at_most"], [40, 35, 15, 10])[0]
            verification = rng.choices(["unverified", "verified", "disputed", "retracted"], [50, 35, 10, 5])[0]
            reported = as_of + dt.timedelta(minutes=rng.randint(0, 600)) if rng.random() < 0.6 else None
            organisation, user = attributed()
            created, updated = stamped(rng, as_of)
            source, site = rng.choice(sources).pk, rng.choice(counted)
            head = (pk, created, updated, verification, organisation, user, source, reported)
            yield (*head, site, as_of, count, high, qualifier)

    figure_columns = ["id", "created_at", "updated_at", "verification", "organisation_id", "created_by_id"]
    figure_columns += ["source_id", "reported_at"]
    copy_rows(
        "tracker_civiliancount", [*figure_columns, "site_id", "as_of", "count", "count_high", "qualifier"], counts()
    )

    # Corridors from a shelter or city to a city, reception centre or crossing in another region,
    # 0-2 cities on the way; 20 windows each, 08:00-18:00 local, some cancelled.
    shelters = [(pk, r) for pk, r in leaves if kind_of[pk] == "shelter"]
    destinations = [(pk, r) for pk, r in leaves if kind_of[pk] in ("reception_centre", "crossing")]
    destinations += [(c, r) for c, r, _, _ in cities]
    corridors, waypoints, windows = [], [], []
    statuses = ["proposed", "announced", "active", "suspended", "closed"]
    for c in range(1, N_CORRIDORS + 1):
        origin, region = rng.choice(shelters) if rng.random() < 0.7 else rng.choice(cities)[:2]
        destination = rng.choice([d for d, r in destinations if r != region])
        organisation, user = attributed()
        created, updated = stamped(rng, origin_of_time)
        announced_by = rng.choice(sources).pk if rng.random() < 0.8 else None
        announced_at = instant(rng) if announced_by else None
        corridors.append(
            (
                c,
                created,
                updated,
                "verified",
                organisation,
                user,
                f"Corridor {c}",
                origin,
                destination,
                announced_by,
                announced_at,
                rng.random() < 0.4,
                rng.choice(statuses),
            )
        )
        for position, (city, *_) in enumerate(rng.sample(cities, rng.randint(0, 2)), start=1):
            waypoints.append((len(waypoints) + 1, c, city, position))
        for day in sorted(rng.sample(range(DAYS), WINDOWS_PER_CORRIDOR)):
            date = (START + dt.timedelta(days=day)).date()
            start = to_utc(dt.datetime.combine(date, dt.time(8)), zone_of[origin])
            end = to_utc(dt.datetime.combine(date, dt.time(18)), zone_of[origin])
            created, updated = stamped(rng, start - dt.timedelta(days=2))
            windows.append((len(windows) + 1, created, updated, c, start, end, rng.random() < 0.03, origin))
    copy_rows(
        "corridors_corridor",
        [
            *figure_columns[:6],
            "name",
            "origin_id",
            "destination_id",
            "announced_by_id",
            "announced_at",
            "ceasefire_announced",
            "status",
        ],
        corridors,
    )
    copy_rows("corridors_corridorwaypoint", ["id", "corridor_id", "site_id", "position"], waypoints)
    copy_rows(
        "corridors_corridorwindow",
        ["id", "created_at", "updated_at", "corridor_id", "starts_at", "ends_at", "cancelled"],
        [w[:7] for w in windows],
    )

    # Hostility reports: background ones anywhere, and for a tenth of the windows 1-4 reports
    # at the origin during the window, each with its flag (open, acknowledged, dismissed or withdrawn).
    reports, flags = [], []
    site_ids = list(zone_of)

    def report(site, started, ended, precision, verification):
        start, end = covered_interval(
            started_at=started, ended_at=ended, ongoing=False, precision=precision, zone_name=zone_of[site]
        ).index_bounds()
        organisation, user = attributed()
        created, updated = stamped(rng, started)
        reports.append(
            (
                len(reports) + 1,
                created,
                updated,
                verification,
                organisation,
                user,
                rng.choice(sources).pk,
                None,
                site,
                rng.choice(["shelling", "air_strike", "small_arms", "missile_strike"]),
                started,
                ended,
                False,
                precision,
                "",
                start,
                end,
            )
        )
        return len(reports)

    for _ in range(N_BACKGROUND_REPORTS):
        started = instant(rng)
        ended = started + dt.timedelta(minutes=rng.randint(5, 240)) if rng.random() < 0.6 else None
        verification = rng.choices(["unverified", "verified", "disputed", "retracted"], [50, 35, 10, 5])[0]
        report(rng.choice(site_ids), started, ended, "exact", verification)
    reviewer = users[0].pk
    for window_id, _c, _u, _corridor, start, end, cancelled, origin in windows:
        if cancelled or rng.random() >= 0.1:
            continue
        for _ in range(rng.choices([1, 2, 3, 4], [50, 30, 15, 5])[0]):
            started = start + dt.timedelta(minutes=rng.randint(0, 500))
            ended = min(end, started + dt.timedelta(minutes=rng.randint(5, 90)))
            hostility = report(origin, started, ended, "exact", rng.choice(["unverified", "verified"]))
            status = rng.choices(["open", "acknowledged", "dismissed", "withdrawn"], [55, 20, 15, 10])[0]
            reviewed = status in ("acknowledged", "dismissed")
            raised, updated = stamped(rng, started)
            flags.append(
                (
                    len(flags) + 1,
                    raised,
                    updated,
                    window_id,
                    hostility,
                    started,
                    ended,
                    "confirmed",
                    status,
                    raised,
                    reviewer if reviewed else None,
                    updated if reviewed else None,
                    "A false report." if status == "dismissed" else "",
                )
            )
    copy_rows(
        "tracker_hostilityreport",
        [
            *figure_columns,
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
        reports,
    )
    copy_rows(
        "corridors_flag",
        [
            "id",
            "created_at",
            "updated_at",
            "window_id",
            "hostility_id",
            "overlap_start",
            "overlap_end",
            "certainty",
            "status",
            "raised_at",
            "reviewed_by_id",
            "reviewed_at",
            "review_note",
        ],
        flags,
    )

    # Departures from a third of the windows, arrivals at a quarter (at the corridor's destination).
    destination_of = {c[0]: c[8] for c in corridors}
    departures, arrivals = [], []
    for window_id, _c, _u, corridor, start, _end, cancelled, origin in windows:
        if cancelled:
            continue
        if rng.random() < 0.33:
            for _ in range(rng.randint(1, 3)):
                when = start + dt.timedelta(minutes=rng.randint(0, 600))
                organisation, user = attributed()
                created, updated = stamped(rng, when)
                verification = rng.choices(["unverified", "verified", "retracted"], [55, 40, 5])[0]
                departures.append(
                    (
                        len(departures) + 1,
                        created,
                        updated,
                        verification,
                        organisation,
                        user,
                        rng.choice(sources).pk,
                        None,
                        origin,
                        corridor,
                        window_id,
                        rng.randint(5, 400),
                        rng.choice(["exact", "approximately"]),
                        when,
                    )
                )
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 2)):
                when = start + dt.timedelta(minutes=rng.randint(120, 900))
                organisation, user = attributed()
                created, updated = stamped(rng, when)
                verification = rng.choices(["unverified", "verified", "retracted"], [55, 40, 5])[0]
                arrivals.append(
                    (
                        len(arrivals) + 1,
                        created,
                        updated,
                        verification,
                        organisation,
                        user,
                        rng.choice(sources).pk,
                        None,
                        origin,
                        corridor,
                        window_id,
                        rng.randint(5, 400),
                        rng.choice(["exact", "at_least"]),
                        destination_of[corridor],
                        when,
                    )
                )
    movement = [*figure_columns, "origin_id", "corridor_id", "window_id", "count", "qualifier"]
    copy_rows("corridors_departure", [*movement, "departed_at"], departures)
    copy_rows("corridors_arrival", [*movement, "destination_id", "arrived_at"], arrivals)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def describe() -> list[str]:
    """The data set's numbers, read back from the database."""
    from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
    from tracker.models import CivilianCount, HostilityReport, Site

    sites = Site.objects
    return [
        f"{sites.count():,} sites ({sites.filter(parent=None).count()} regions, {sites.filter(kind='city').count()} "
        f"cities, {sites.filter(kind='shelter').count():,} shelters and "
        f"{sites.exclude(kind__in=['region', 'city', 'shelter']).count():,} other places; "
        f"{sites.filter(restricted=True).count():,} restricted)",
        f"{CivilianCount.objects.count():,} counts "
        f"({CivilianCount.objects.exclude(count_high=None).count():,} ranges, "
        f"{CivilianCount.objects.filter(verification='retracted').count():,} retracted)",
        f"{Corridor.objects.count():,} corridors, {CorridorWindow.objects.count():,} windows "
        f"({CorridorWindow.objects.filter(cancelled=True).count()} cancelled, "
        f"{CorridorWindow.objects.flagged().count():,} flagged)",
        f"{HostilityReport.objects.count():,} hostility reports, {Flag.objects.count():,} flags "
        f"({Flag.objects.filter(status__in=Flag.ACTIVE_STATUSES).count():,} open or acknowledged)",
        f"{Departure.objects.count():,} departures, {Arrival.objects.count():,} arrivals",
    ]


# --- The server and the load ------------------------------------------------------------


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="api_settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        DB_CONN_MAX_AGE="600",
    )
    return env


class Server:
    def __init__(self, workers: int, log_path: Path):
        self.log_file = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tracker.wsgi:application",
                "--pythonpath",
                "bench",
                "--bind",
                f"127.0.0.1:{PORT}",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--backlog",
                "256",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=server_env(),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(ENDPOINTS[0][1])
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {log_path}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log_file.close()


def fetch(path: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(BASE + path, timeout=30) as response:  # noqa: S310 - 127.0.0.1
        return response.read(), dict(response.headers)


def check_same_answers() -> dict[str, int]:
    """Each floor answers with the very bytes of its endpoint (links aside, which name its own path)."""
    sizes = {}
    for label, api_path, floor_path in ENDPOINTS:
        for page in ("", "&page=2"):
            api_body, api_headers = fetch(api_path + page)
            floor_body, floor_headers = fetch(floor_path + page)
            floor_body = floor_body.replace(b"/floor/api/v1/", b"/api/v1/")
            if api_body != floor_body:
                a, f = json.loads(api_body), json.loads(floor_body)
                diff = next(
                    (i for i, (x, y) in enumerate(zip(a["results"], f["results"], strict=False)) if x != y), None
                )
                detail = f"first differing row {diff}: {a['results'][diff]} != {f['results'][diff]}" if diff else ""
                raise SystemExit(f"{label}{page}: the floor's answer differs from the API's. {detail}")
            for header in ("X-Total-Count", "Link"):
                assert api_headers.get(header) == floor_headers.get(header, "").replace("/floor/api/", "/api/")
        sizes[label] = len(api_body)
        results = json.loads(api_body)["results"]
        assert results, f"{label}: an empty page measures nothing"
    return sizes


def count_queries() -> dict[str, tuple[int, int]]:
    """Queries per request of each endpoint and its floor, through Django's test client on the same database."""
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    out = {}
    with override_settings(ROOT_URLCONF="api_floor", ALLOWED_HOSTS=["127.0.0.1"]):
        for label, api_path, floor_path in ENDPOINTS:
            n = []
            for path in (api_path, floor_path):
                client.get(path)
                with CaptureQueriesContext(connection) as queries:
                    assert client.get(path).status_code == 200, path
                n.append(len(queries))
            out[label] = (n[0], n[1])
    return out


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
  -- The slice's latency quantiles, every 0.1 %, to pool the slices' percentiles.
  for i = 1, 1000 do io.write(string.format("Q %d\\n", latency:percentile(i / 10))) end
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("installing wrk (Debian's package)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )
    return shutil.which("wrk") or "wrk"


class Sample:
    """The requests of one endpoint (or its floor) over all its slices: time, count and latencies."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.requests = 0
        self.quantiles: list[tuple[int, float]] = []  # (latency in µs, how many requests it stands for)
        self.slice_rates: list[float] = []

    def add(self, seconds: float, requests: int, quantiles: list[int]) -> None:
        self.seconds += seconds
        self.requests += requests
        self.quantiles += [(us, requests / len(quantiles)) for us in quantiles]
        self.slice_rates.append(requests / seconds)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        """In milliseconds, over the requests of every slice (each slice's quantiles weighted by its requests)."""
        rank, seen = p / 100 * self.requests, 0.0
        for us, weight in sorted(self.quantiles):
            seen += weight
            if seen >= rank - 1e-9:
                return us / 1000
        return max(self.quantiles)[0] / 1000


def load(wrk: str, script: Path, path: str, seconds: int, connections: int) -> tuple[float, int, list[int]]:
    """One wrk run (one thread): its length in seconds, its requests and their latency quantiles in µs."""
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), BASE + path],
        capture_output=True,
        text=True,
    )
    out = result.stdout
    line = next((line for line in out.splitlines() if line.startswith("RESULT ")), None)
    if result.returncode or line is None:
        raise SystemExit(f"wrk failed on {path}:\n{out[:2000]}\n{result.stderr[:2000]}")
    requests, duration_us, errors = (int(x) for x in line.split()[1:])
    if errors:
        raise SystemExit(f"wrk counted {errors} errors on {path}:\n{out[:2000]}")
    quantiles = [int(q.split()[1]) for q in out.splitlines() if q.startswith("Q ")]
    return duration_us / 1e6, requests, quantiles


def measure(wrk: str, slices: int, seconds: int, connections: int) -> dict[str, dict[str, Sample]]:
    """
    Each endpoint and its floor in alternating slices of `seconds`: API then floor, then
    floor then API, and so on, the endpoints taking turns; `slices` of each.
    """
    results = {label: {"api": Sample(), "floor": Sample()} for label, _, _ in ENDPOINTS}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
        script_file.write(WRK_SCRIPT)
    script = Path(script_file.name)
    try:
        for _label, api_path, floor_path in ENDPOINTS:  # warm-up: imports, connections, caches
            load(wrk, script, api_path, 3, connections)
            load(wrk, script, floor_path, 3, connections)
        for i in range(slices):
            for label, api_path, floor_path in ENDPOINTS:
                pair = [("api", api_path), ("floor", floor_path)]
                for variant, path in pair if i % 2 == 0 else reversed(pair):
                    results[label][variant].add(*load(wrk, script, path, seconds, connections))
            if (i + 1) % 10 == 0 or i + 1 == slices:
                log(
                    f"{i + 1}/{slices} slices: "
                    + "; ".join(
                        f"{label} API {r['api'].rate:.0f} req/s, floor {r['floor'].rate:.0f} req/s"
                        for label, r in results.items()
                    )
                )
    finally:
        script.unlink()
    return results


# --- The report ---------------------------------------------------------------------------


def table(results: dict[str, dict[str, Sample]], queries, sizes) -> list[str]:
    lines = [
        "| endpoint | | req/s | p50 | p95 | queries | body | API/floor throughput | slices' ratios, median (IQR) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, api_path, floor_path in ENDPOINTS:
        api, floor = results[label]["api"], results[label]["floor"]
        ratios = [a / f for a, f in zip(api.slice_rates, floor.slice_rates, strict=True)]
        q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        for variant, path, sample in (("API", api_path, api), ("floor", floor_path, floor)):
            n = queries[label][0 if variant == "API" else 1]
            size = f"{sizes[label] / 1024:.1f} KB"
            ratio = f"**{api.rate / floor.rate:.2f}×**" if variant == "API" else ""
            spread = f"{median:.2f} ({q1:.2f}–{q3:.2f})" if variant == "API" else ""
            lines.append(
                f"| `GET {path}` | {variant} | {sample.rate:.0f} | {sample.percentile(50):.1f} ms "
                f"| {sample.percentile(95):.1f} ms | {n} | {size} | {ratio} | {spread} |"
            )
    return lines


def write_docs(block: str) -> None:
    text = DOCS.read_text()
    start, end = MARKERS
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{start}\n{block}\n{end}{after}"
    else:
        text = text.rstrip("\n") + f"\n\n## The REST API under gunicorn\n\n{start}\n{block}\n{end}\n"
    DOCS.write_text(text)
    log(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--connections", type=int, default=8, help="wrk's concurrent connections (default 8)")
    parser.add_argument("--seconds", type=int, default=2, help="length of one slice, one wrk run (default 2)")
    parser.add_argument("--slices", type=int, default=30, help="slices of each endpoint and floor (default 30)")
    parser.add_argument("--reuse", action="store_true", help="keep the data set a previous run built")
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()

    wrk = ensure_wrk()
    if not args.reuse:
        reset_database(DATABASE_URL)
        started = time.perf_counter()
        build()
        log(f"built the data set in {time.perf_counter() - started:.0f} s")
    data_set = describe()
    for line in data_set:
        log(line)
    queries = count_queries()
    connection.close()
    tmp = Path(tempfile.gettempdir()) / "tracker-api-bench"
    tmp.mkdir(exist_ok=True)
    load_before = os.getloadavg()[0]
    server = Server(args.workers, tmp / "gunicorn.log")
    try:
        sizes = check_same_answers()
        log("each floor answers with the same bytes as its endpoint")
        results = measure(wrk, args.slices, args.seconds, args.connections)
    finally:
        server.stop()
    load_after = os.getloadavg()[0]
    when = dt.datetime.now(UTC).strftime("%Y-%m-%d at %H:%M UTC")
    summary = (
        f"Run on {when} (commit `{git_commit()}`): {args.workers} gunicorn sync workers, wrk with one thread and "
        f"{args.connections} connections, {args.slices} alternating slices of {args.seconds} s of each endpoint and "
        f"of its floor, {os.cpu_count()} CPUs, load average {load_before:.1f} before and {load_after:.1f} after."
    )
    lines = [
        textwrap.fill(summary, 88),
        "",
        *table(results, queries, sizes),
    ]
    print()
    print("\n".join(lines))
    if args.write:
        write_docs("\n".join(lines))


if __name__ == "__main__":
    main()
