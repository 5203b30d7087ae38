"""
Page weight and query count of the dashboard's pages, as a first-time visitor gets them.

Runs the app as in production (DEBUG off, gunicorn, WhiteNoise's compressed static
files, SQLite with the demo data) on 127.0.0.1, loads each page in Debian's Chromium
with an empty cache and every other host blocked (so map tiles are excluded), and adds
up what went over the wire: headers and compressed bodies of every request the page
made. The query counts come from Django's test client on the same database.

    .venv/bin/python bench/page_weight.py            # print the table (Markdown)
    .venv/bin/python bench/page_weight.py --check    # and fail if the overview exceeds its budget

The budget: the overview's first load is at most 150 KB compressed, tiles excluded.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv/bin/python")
BUDGET_BYTES = 150 * 1024
PORT = int(os.environ.get("BENCH_PORT", "8391"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def production_env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL"}}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{database}",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - a URL on 127.0.0.1 built above
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"The app did not answer on {url} within {seconds} s.")


def page_paths(env: dict[str, str]) -> list[tuple[str, str]]:
    """The pages to weigh, with the ids of the demo's rows."""
    code = (
        "import django; django.setup();"
        "from tracker.models import Site; from corridors.models import Corridor;"
        "print(Site.objects.get(name='Azovstal steel plant').pk, Corridor.objects.get().pk)"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "tracker.settings"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    site, corridor = out[-2], out[-1]
    return [
        ("Overview (English)", "/en/"),
        ("Overview (Ukrainian)", "/uk/"),
        ("Overview data (the minute's refresh)", "/en/overview/data/"),
        ("Site: Azovstal steel plant", f"/en/sites/{site}/"),
        ("Corridor: Azovstal → Zaporizhzhia", f"/en/corridors/{corridor}/"),
        ("Map (tiles excluded)", "/en/map/"),
        ("Staff login", "/en/staff/login/"),
    ]


def weigh(base: str, pages: list[tuple[str, str]]) -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for label, path in pages:
            context = browser.new_context()  # an empty cache: a first visit
            context.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort()
            )
            page = context.new_page()
            finished: list = []

            def record(request, bucket=finished):  # a function: Playwright cannot wrap a bound builtin
                bucket.append(request)

            page.on("requestfinished", record)
            page.goto(base + path, wait_until="networkidle")
            total = 0
            for request in finished:
                sizes = request.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            rows.append({"label": label, "path": path, "requests": len(finished), "bytes": total})
            context.close()
        browser.close()
    return rows


def count_queries(env: dict[str, str], pages: list[tuple[str, str]]) -> dict[str, int]:
    code = f"""
import django; django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client()
for path in {[p for _, p in pages]!r}:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200, path
    print(path, len(ctx))
"""
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "tracker.settings", "ALLOWED_HOSTS": "testserver"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.startswith("/")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the overview is over its budget")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker_ui_bench_") as tmp:
        env = production_env(Path(tmp) / "bench.sqlite3")
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo")
        manage(env, "collectstatic", "--noinput", "--clear")
        pages = page_paths(env)
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "tracker.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{PORT}"
            wait_for(base + "/en/")
            rows = weigh(base, pages)
        finally:
            server.terminate()
            server.wait(timeout=30)
        queries = count_queries(env, pages)

    print("| page | URL | requests | transferred (compressed) | queries |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        size = f"{int(row['bytes']) / 1024:.1f} KB"
        print(f"| {row['label']} | `{row['path']}` | {row['requests']} | {size} | {queries[str(row['path'])]} |")
    overview = next(r for r in rows if r["path"] == "/en/")
    verdict = "within" if int(overview["bytes"]) <= BUDGET_BYTES else "OVER"
    print(f"\nOverview first load: {int(overview['bytes']) / 1024:.1f} KB, {verdict} the 150 KB budget.")
    return 1 if args.check and verdict == "OVER" else 0


if __name__ == "__main__":
    sys.exit(main())
