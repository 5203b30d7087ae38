"""
Benchmark of the public pages under gunicorn, on PostgreSQL with the page cache in Redis
(not a test; figures in docs/benchmarks.md).

    .venv/bin/python bench/public.py            # build both data sets, serve, measure, print
    .venv/bin/python bench/public.py --write    # and put the figures in docs/benchmarks.md
    .venv/bin/python bench/public.py --reuse    # keep the data sets an earlier run built

Two data sets (bench/dataset.py), each in its own database on BENCH_DATABASE_URL's
server (default postgres://root@127.0.0.1:5432/tracker_public_bench, suffixed _1x and
_10x): the REST API benchmark's (10,000 sites, 100,000 counts, 500 corridors with
10,000 windows, 21,730 reports), and one with ten times its counts (1,000,000) and
background reports (201,730 reports in all).

For each, gunicorn (2 sync workers, as the issue measured; production settings: DEBUG
off, persistent connections, the cache in Redis at BENCH_REDIS_URL, default
redis://127.0.0.1:6379/15 — a database of its own) serves the app; beside it WhiteNoise
serves a static file holding the overview's own bytes (the floor). Then:

- **latency, one request at a time** (wrk, 1 connection, a few seconds each): every
  public page as visitors get it (kept), and the refresh answered 304 (If-None-Match);
- **latency after the pages went stale**: the same pages made stale before each request
  (a new generation, as a write does, but nothing they show changed), one at a time:
  served as they were, their render runs after the response (tracker/pagecache.py);
- **latency after a write** (the overview and its refresh): before each request, a new
  count at one of the sites the overview lists, saved as a reporter saves it: what the
  first visitor after that write waits (the page as it was: the new one is rendered
  after the response, tracker/pagecache.py), and how long after that request a request
  gets the page with the new figure (polled every 20 ms; the parts of the page the write
  did not change are kept by each server process: tracker/templatetags/fragments.py);
- **a render with no part kept** (the overview, in this process with Django's test
  client): a server process's first, or one after a write changed every part;
- **throughput under 64 connections** (wrk, one thread): the overview and the static
  file in alternating slices, so that a shared machine's load falls on both alike;
- **queries** of each page rendered (Django's test client on the same database);
- **the map's first load** in Debian's Chromium with an empty cache, every other host
  blocked (so the tile server's images are excluded, the app's JSON tiles included):
  bench/page_weight.py's weigh().
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
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
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_public_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PORT = int(os.environ.get("BENCH_PORT", "8393"))
BASE = f"http://127.0.0.1:{PORT}"
DOCS = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- bench/public.py --write: start -->", "<!-- bench/public.py --write: end -->")
DATA_SETS = {"1x": {"counts": 100_000, "reports": 20_000}, "10x": {"counts": 1_000_000, "reports": 200_000}}
FLOOR = "bench-overview.html"  # in STATIC_ROOT while the benchmark runs
os.environ.update(
    DATABASE_URL=f"{DATABASE_URL}_1x",
    REDIS_URL=REDIS_URL,
    DJANGO_SETTINGS_MODULE="tracker.settings",
    LOG_LEVEL="WARNING",
    DEBUG="0",
    SECRET_KEY=secrets.token_urlsafe(50),
    ALLOWED_HOSTS="127.0.0.1,testserver",
    SECURE_SSL_REDIRECT="0",
    SESSION_COOKIE_SECURE="0",
    CSRF_COOKIE_SECURE="0",
    SECURE_HSTS_SECONDS="0",
    DB_CONN_MAX_AGE="600",
)
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from common import WRK_SCRIPT, Sample, ensure_wrk, load, log, reset_database, shows, write_a_count  # noqa: E402
from dataset import build, describe  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from corridors.models import Corridor  # noqa: E402
from tracker import geo, pagecache  # noqa: E402
from tracker.models import LatestCount, Site  # noqa: E402

# The pages a write of a count changes, measured after one.
OVERVIEWS = ("overview", "overview data (the refresh)", "overview (Ukrainian)")


def use_database(label: str) -> str:
    """Point this process at a data set's database; its URL."""
    url = f"{DATABASE_URL}_{label}"
    connection.close()
    connection.settings_dict["NAME"] = url.rsplit("/", 1)[1]
    return url


def pages() -> dict[str, str]:
    """The public pages measured, on rows of the data set: a city with sub-sites, a corridor, the map's first tiles."""
    city = Site.objects.filter(kind="city").order_by("id").first()
    shelter = LatestCount.objects.filter(site__kind="shelter").order_by("-count").first()
    corridor = Corridor.objects.order_by("id").first()
    assert city and shelter and corridor
    x, y = geo.tile_xy(city.latitude, city.longitude, 7)
    return {
        "overview": "/en/",
        "overview data (the refresh)": "/en/overview/data/",
        "overview (Ukrainian)": "/uk/",
        "site: a city": f"/en/sites/{city.pk}/",
        "site: a shelter": f"/en/sites/{shelter.site_id}/",
        "corridor": f"/en/corridors/{corridor.pk}/",
        "map": "/en/map/",
        "map: a table page in the middle": "/en/map/?page=50",
        "map JSON: a tile at zoom 7": f"/en/map/tiles/7/{int(x)}/{int(y)}/",
        "map JSON: the tile of the whole world": "/en/map/tiles/0/0/0/",
        "map JSON: corridors": "/en/map/corridors/",
    }


def count_queries(paths: dict[str, str]) -> dict[str, int]:
    client = Client()
    out = {}
    for label, path in paths.items():
        pagecache._new_generation()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200, path
        out[label] = len(queries)
    return out


def fetch(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(BASE + path, headers=headers or {})  # noqa: S310 - 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, b"", dict(error.headers)


class Server:
    def __init__(self, database_url: str, log_path: Path) -> None:
        env = {**os.environ, "DATABASE_URL": database_url, "ALLOWED_HOSTS": "127.0.0.1"}
        self.log_file = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tracker.wsgi:application",
                "--bind",
                f"127.0.0.1:{PORT}",
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--backlog",
                "256",
                "--timeout",
                "120",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                fetch("/en/overview/data/")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {log_path}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log_file.close()


def quantiles_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


def rendered_latency(path: str, n: int) -> tuple[float, float]:
    """p50 and p95 in ms of `n` requests, each after the kept pages went stale (as after a write)."""
    samples = []
    for _ in range(n):
        pagecache._new_generation()
        time.sleep(pagecache.LOCAL_SECONDS + 0.05)  # until each server process has read the new generation
        started = time.perf_counter()
        status, _, _ = fetch(path)
        samples.append(time.perf_counter() - started)
        assert status == 200, (path, status)
    return quantiles_ms(samples)


def written_latency(path: str, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """
    After each of `n` new counts at a site the overview lists: p50 and p95 in ms of the
    first request (what the first visitor waits), and of the time from that request until
    a request gets the page with the new figure (polled every 20 ms): when it is shown.
    """
    samples, shown = [], []
    for i in range(n):
        figure = write_a_count(i)
        time.sleep(pagecache.LOCAL_SECONDS + 0.05)  # until each server process has read the new generation
        started = time.perf_counter()
        status, body, _ = fetch(path)
        samples.append(time.perf_counter() - started)
        assert status == 200, (path, status)
        while not shows(body, figure):
            assert time.perf_counter() - started < pagecache.MAX_AGE, (path, figure, "not shown")
            time.sleep(0.02)
            status, body, _ = fetch(path)
        shown.append(time.perf_counter() - started)
    return quantiles_ms(samples), quantiles_ms(shown)


def cold_renders(paths: dict[str, str], n: int = 5) -> dict[str, float]:
    """The median time in ms of an overview rendered in this process with no part kept."""
    client = Client()
    out = {}
    for label in OVERVIEWS:
        samples = []
        for _ in range(n):
            caches["fragments"].clear()
            pagecache._new_generation()
            started = time.perf_counter()
            assert client.get(paths[label]).status_code == 200
            samples.append(time.perf_counter() - started)
        out[label] = statistics.median(samples) * 1000
    return out


def measure(wrk: str, script: Path, paths: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {}
    sizes, kept, rendered, written, shown = {}, {}, {}, {}, {}
    for label, path in paths.items():
        status, body, _ = fetch(path)
        assert status == 200, (path, status)
        sizes[label] = len(body)
        sample = Sample()
        sample.add(*load(wrk, script, BASE + path, args.latency_seconds, 1))
        kept[label] = (sample.percentile(50), sample.percentile(95))
        rendered[label] = rendered_latency(path, args.renders)
        if label in OVERVIEWS:
            written[label], shown[label] = written_latency(path, args.renders)
        log(
            f"{label}: kept {kept[label][0]:.1f}/{kept[label][1]:.1f} ms, stale {rendered[label][0]:.0f} ms"
            + (
                f", after a write {written[label][0]:.0f}/{written[label][1]:.0f} ms, "
                f"shown {shown[label][0]:.0f}/{shown[label][1]:.0f} ms later"
                if label in written
                else ""
            )
        )
    etag = fetch("/en/overview/data/")[2]["ETag"]
    status, _, _ = fetch("/en/overview/data/", {"If-None-Match": etag})
    assert status == 304, status
    sample = Sample()
    sample.add(*load(wrk, script, BASE + "/en/overview/data/", args.latency_seconds, 1, [f"If-None-Match: {etag}"]))
    kept["the refresh, unchanged (304)"] = (sample.percentile(50), sample.percentile(95))
    results.update(sizes=sizes, kept=kept, rendered=rendered, written=written, shown=shown)

    # Throughput: the overview against the static file of the same bytes, in alternating slices.
    overview, floor = Sample(), Sample()
    pair = [(overview, "/en/"), (floor, f"/static/{FLOOR}")]
    for _, path in pair:
        load(wrk, script, BASE + path, 2, args.connections)  # warm-up
    for i in range(args.slices):
        for sample, path in pair if i % 2 == 0 else reversed(pair):
            sample.add(*load(wrk, script, BASE + path, args.seconds, args.connections))
    ratios = [a / f for a, f in zip(overview.slice_rates, floor.slice_rates, strict=True)]
    results["throughput"] = (overview, floor, ratios)
    log(f"throughput: overview {overview.rate:.0f} req/s, static file {floor.rate:.0f} req/s")
    return results


def map_weight() -> int:
    from page_weight import weigh

    (row,) = weigh(BASE, [("Map", "/en/map/")])
    return int(row["bytes"])


def table(
    label: str, data_set: list[str], queries: dict[str, int], results: dict[str, object], weight: int
) -> list[str]:
    sizes, kept, rendered = results["sizes"], results["kept"], results["rendered"]  # type: ignore[index]
    written, shown, cold = results["written"], results["shown"], results["cold"]  # type: ignore[index]
    overview, floor, ratios = results["throughput"]  # type: ignore[index,misc]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    lines = [
        f"#### Data set {label}",
        "",
        *[f"- {line}" for line in data_set],
        "",
        "| page | body | queries (rendered) | kept: p50 / p95 | after the pages went stale: p50 / p95 "
        "| after a write: p50 / p95 "
        "| the new figure shown after: p50 / p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (k50, k95) in kept.items():  # type: ignore[attr-defined]
        body = f"{sizes[name] / 1024:.1f} KB" if name in sizes else "0"
        n = str(queries[name]) if name in queries else "0"
        r = f"{rendered[name][0]:.0f} / {rendered[name][1]:.0f} ms" if name in rendered else "—"
        w = f"{written[name][0]:.0f} / {written[name][1]:.0f} ms" if name in written else "—"
        v = f"{shown[name][0]:.0f} / {shown[name][1]:.0f} ms" if name in shown else "—"
        lines.append(f"| {name} | {body} | {n} | {k50:.1f} / {k95:.1f} ms | {r} | {w} | {v} |")
    lines += [
        "",
        "Rendered with no part kept (a server process's first render of the page, or after a write that changed "
        "every part; in-process, the median of 5): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in cold.items())
        + ".",
        "",
        f"Throughput under {ARGS.connections} connections: the overview **{overview.rate:,.0f} req/s** "
        f"(p50 {overview.percentile(50):.0f} ms, p95 {overview.percentile(95):.0f} ms), the static file of its "
        f"{sizes['overview'] / 1024:.0f} KB **{floor.rate:,.0f} req/s**: **{overview.rate / floor.rate:.2f}×** "
        f"(slices' ratios: median {median:.2f}, IQR {q1:.2f}–{q3:.2f}).",
        "",
        f"The map's first load: **{weight / 1024:.1f} KB** over the wire, compressed, tiles of the tile server "
        "excluded (the page, Leaflet, the styles, the script, and the JSON of the sites and corridors in view).",
    ]
    return lines


def write_docs(block: str) -> None:
    text = DOCS.read_text()
    start, end = MARKERS
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{start}\n{block}\n{end}{after}"
    else:
        text = text.rstrip("\n") + f"\n\n## The public pages under gunicorn\n\n{start}\n{block}\n{end}\n"
    DOCS.write_text(text)
    log(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


ARGS = argparse.Namespace()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=64, help="wrk's connections for throughput (default 64)")
    parser.add_argument("--seconds", type=int, default=2, help="length of one throughput slice (default 2)")
    parser.add_argument("--slices", type=int, default=10, help="throughput slices of each (default 10)")
    parser.add_argument("--latency-seconds", type=int, default=4, help="wrk run per page, one connection (default 4)")
    parser.add_argument("--renders", type=int, default=10, help="rendered requests per page (default 10)")
    parser.add_argument("--only", choices=list(DATA_SETS), help="one data set only")
    parser.add_argument("--reuse", action="store_true", help="keep the data sets an earlier run built")
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    parser.parse_args(namespace=ARGS)

    wrk = ensure_wrk()
    call_command("collectstatic", "--noinput", verbosity=0)
    floor_path = Path(settings.STATIC_ROOT) / FLOOR
    tmp = Path(tempfile.gettempdir()) / "tracker-public-bench"
    tmp.mkdir(exist_ok=True)
    script = tmp / "wrk.lua"
    script.write_text(WRK_SCRIPT)
    loads = [os.getloadavg()[0]]
    blocks = []
    for label, size in DATA_SETS.items():
        if ARGS.only and label != ARGS.only:
            continue
        url = use_database(label)
        if not ARGS.reuse:
            reset_database(url)
            started = time.perf_counter()
            build(**size)
            log(f"built data set {label} in {time.perf_counter() - started:.0f} s")
        data_set = describe()
        for line in data_set:
            log(line)
        paths = pages()
        queries = count_queries(paths)
        cold = cold_renders(paths)
        # The floor: the overview's own bytes, as a static file served by the same gunicorn and WhiteNoise.
        floor_path.write_bytes(Client().get("/en/").content)
        connection.close()
        server = Server(url, tmp / f"gunicorn-{label}.log")
        try:
            results = measure(wrk, script, paths, ARGS)
            results["cold"] = cold
            weight = map_weight()
        finally:
            server.stop()
            floor_path.unlink(missing_ok=True)
        loads.append(os.getloadavg()[0])
        blocks.append(table(label, data_set, queries, results, weight))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d at %H:%M UTC")
    summary = (
        f"Run on {when} (commit `{git_commit()}`): 2 gunicorn sync workers, PostgreSQL and Redis on the same machine, "
        f"{os.cpu_count()} CPUs, load average {' → '.join(f'{x:.1f}' for x in loads)} (before, and after each data "
        f"set). Latencies one request at a time: kept ({ARGS.latency_seconds} s of wrk with one connection per "
        f"page), stale ({ARGS.renders} requests, each after the kept pages went stale) and after a write "
        f"({ARGS.renders} requests, each after a new count at a site the overview lists). Throughput: wrk with "
        f"one thread and {ARGS.connections} connections, {ARGS.slices} alternating slices of {ARGS.seconds} s."
    )
    lines = [textwrap.fill(summary, 88), ""]
    for block in blocks:
        lines += [*block, ""]
    print()
    print("\n".join(lines))
    if ARGS.write:
        write_docs("\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
