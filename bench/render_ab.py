"""
The overview after a write, this checkout against another commit, in one run (not a
test; figures in docs/benchmarks.md):

    .venv/bin/python bench/render_ab.py --baseline e954a0f --rounds 30

On bench/public.py's data set (run it first; `--label 10x` for the larger one), two
gunicorn servers as bench/public.py runs them (2 sync workers, production settings): the
baseline (the commit's files, from `git archive`) and this checkout, each with its page
cache in its own database of a private `redis-server` (a free port, stopped at the end).
Each round writes a new count at one of the sites the overview lists, as a reporter
saves one, makes both servers' kept pages stale, then asks each server for the page
(in turn, the order alternating from round to round): what the first visitor after a
write waits, and how long from that request until a request to the same server shows
the new figure (polled every 20 ms; the same request where the page is rendered for
it), measured on both under the same load of a shared machine. The ratios are the
figures that count.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_public_bench")
PAGES = {"overview": "/en/", "overview data (the refresh)": "/en/overview/data/", "overview (Ukrainian)": "/uk/"}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PARSER = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
PARSER.add_argument("--baseline", required=True, help="the commit to compare with")
PARSER.add_argument("--label", default="1x", help="bench/public.py's data set (default 1x)")
PARSER.add_argument("--rounds", type=int, default=30, help="writes, each followed by one request per server")
ARGS = PARSER.parse_args()

REDIS_PORT = free_port()
os.environ.update(
    DATABASE_URL=f"{DATABASE_URL}_{ARGS.label}",
    REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
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

from common import log, shows, write_a_count  # noqa: E402

from tracker import pagecache  # noqa: E402
from tracker.cache import FailOpenRedisCache  # noqa: E402


class Server:
    def __init__(self, name: str, cwd: Path, redis_db: int, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.cache = FailOpenRedisCache(f"redis://127.0.0.1:{REDIS_PORT}/{redis_db}", {})
        env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/{redis_db}", "ALLOWED_HOSTS": "127.0.0.1"}
        self.log = (log_dir / f"{name}.log").open("wb")
        command = [sys.executable, "-m", "gunicorn", "tracker.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", "2", "--worker-class", "sync", "--timeout", "120"]
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                self.get("/en/overview/data/")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn ({name}) did not start; see {log_dir / name}.log") from None
                time.sleep(0.5)

    def get(self, path: str) -> float:
        started = time.perf_counter()
        self.body(path)
        return time.perf_counter() - started

    def body(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=60) as response:
            body = response.read()
            assert response.status == 200
        return bytes(body)

    def after_a_write(self, path: str, figure: int) -> tuple[float, float]:
        """How long the first request after a write takes, and how long from it until a request shows the figure."""
        started = time.perf_counter()
        body = self.body(path)
        first = time.perf_counter() - started
        while not shows(body, figure):
            assert time.perf_counter() - started < pagecache.MAX_AGE, (self.name, path, figure, "not shown")
            time.sleep(0.02)
            body = self.body(path)
        return first, time.perf_counter() - started

    def stale(self) -> None:
        """What a committed write does to the kept pages (tracker/pagecache.py): a new generation."""
        self.cache.set(pagecache.GENERATION_KEY, uuid.uuid4().hex, timeout=None)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="render-ab-"))
    redis = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
    )
    servers: list[Server] = []
    try:
        baseline = tmp / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "archive", ARGS.baseline], cwd=ROOT, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as files:
            files.extractall(baseline, filter="data")
        for tree in (baseline, ROOT):  # the pages name their static files by the manifest (DEBUG off)
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=tree, check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        servers = [Server(f"baseline {ARGS.baseline}", baseline, 1, tmp), Server("this checkout", ROOT, 2, tmp)]
        times: dict[tuple[str, str], list[float]] = {(s.name, page): [] for s in servers for page in PAGES}
        shown: dict[tuple[str, str], list[float]] = {(s.name, page): [] for s in servers for page in PAGES}
        for server in servers:  # first renders, parts included
            for path in PAGES.values():
                server.get(path)
        load_before = os.getloadavg()[0]
        for round_ in range(ARGS.rounds):
            for page, path in PAGES.items():
                figure = write_a_count(round_)
                for server in servers:
                    server.stale()
                time.sleep(pagecache.LOCAL_SECONDS + 0.05)  # until every server process has read the new generation
                for server in servers if round_ % 2 == 0 else reversed(servers):
                    first, at = server.after_a_write(path, figure)
                    times[(server.name, page)].append(first)
                    shown[(server.name, page)].append(at)
            if round_ % 10 == 9:
                log(f"{round_ + 1} rounds")
        load_after = os.getloadavg()[0]
    finally:
        for server in servers:
            server.stop()
        redis.terminate()
        redis.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    def p(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    print()
    print(
        f"Run on {time.strftime('%Y-%m-%d at %H:%M UTC', time.gmtime())}: `.venv/bin/python bench/render_ab.py "
        f"--baseline {ARGS.baseline} --label {ARGS.label} --rounds {ARGS.rounds}` (this checkout at "
        f"`{head.stdout.strip()}`), data set {ARGS.label}, load average {load_before:.1f} → {load_after:.1f}."
    )
    print()
    for what, samples in (("the first request after a write", times), ("the new figure shown after", shown)):
        print()
        print(f"| {what} | baseline `{ARGS.baseline}`: p50 / p95 | this checkout: p50 / p95 | p50 ratio |")
        print("|---|---:|---:|---:|")
        for page in PAGES:
            old, new = samples[(servers[0].name, page)], samples[(servers[1].name, page)]
            print(
                f"| {page} | {p(old, 0.5):.0f} / {p(old, 0.95):.0f} ms | {p(new, 0.5):.1f} / {p(new, 0.95):.1f} ms "
                f"| {statistics.median(new) / statistics.median(old):.3f}× |"
            )


if __name__ == "__main__":
    main()
