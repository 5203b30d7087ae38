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

from common import WRK_SCRIPT, Sample, ensure_wrk, load, log, reset_database  # noqa: E402
from dataset import UTC, build, describe  # noqa: E402
from django.db import connection  # noqa: E402

# (label, the API's path, the floor's path)
ENDPOINTS = [
    ("counts", "/api/v1/counts/?page_size=100", "/floor/api/v1/counts/?page_size=100"),
    ("windows", "/api/v1/windows/?flagged=true", "/floor/api/v1/windows/?flagged=true"),
]

MARKERS = ("<!-- bench/api.py --write: start -->", "<!-- bench/api.py --write: end -->")


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
            load(wrk, script, BASE + api_path, 3, connections)
            load(wrk, script, BASE + floor_path, 3, connections)
        for i in range(slices):
            for label, api_path, floor_path in ENDPOINTS:
                pair = [("api", api_path), ("floor", floor_path)]
                for variant, path in pair if i % 2 == 0 else reversed(pair):
                    results[label][variant].add(*load(wrk, script, BASE + path, seconds, connections))
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
