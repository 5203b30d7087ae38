"""
Webhooks under a real worker (issue 14, "Measured"), on PostgreSQL, with its own
redis-server on a free port, one `celery worker` (prefork, concurrency 2) and a local
HTTP receiver (a server thread in this process, so one clock times both ends):

1. latency: a hostility report committed here → the flag the worker raises → its
   signed `flag.raised` received; p50 and p95 over `--flags` reports, one at a time
   (target p95 ≤ 1 s);
2. fan-out: 1,000 events for 10 endpoints (10,000 deliveries) written in one
   transaction → all received, against a plain loop in this process of the same
   10,000 signed POSTs to the same receiver (the ratio; one run).

    DATABASE_URL=postgres://root@127.0.0.1:5432/tracker_bench_webhooks \\
        .venv/bin/python bench/webhooks.py [--write]

The database named is dropped and made again. `--write` puts the table in docs/benchmarks.md.
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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
os.environ["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
os.environ["LOG_LEVEL"] = "WARNING"

DOCS = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- bench/webhooks.py --write: start -->", "<!-- bench/webhooks.py --write: end -->")
UTC = dt.UTC


class Receiver:
    """Counts what it is sent; `arrived[id]` is when each `webhook-id` first arrived (perf_counter)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.count += 1
                    receiver.arrived.setdefault(self.headers["webhook-id"], time.perf_counter())
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"within {timeout} s: {what}")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flags", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    database_url = os.environ["DATABASE_URL"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    port = subprocess.run(
        [sys.executable, "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    redis = subprocess.Popen(
        ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
    )
    broker = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = broker

    import django

    django.setup()
    from django.db import transaction

    from bench.common import log, reset_database
    from corridors import events, webhooks
    from corridors.models import CorridorWindow, Webhook
    from tests import factories
    from tracker import services as tracker_services
    from tracker.models import HostilityReport, Role

    reset_database(database_url)
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracker",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=(tmp / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    receiver = Receiver()
    try:
        admin = factories.UserFactory(username="bench", role=Role.ADMIN, organisation=None)
        site = factories.SiteFactory(name="Azovstal")
        corridor = factories.CorridorFactory(origin=site)
        start = dt.datetime(2022, 5, 5, 5, tzinfo=UTC)
        CorridorWindow.objects.create(corridor=corridor, starts_at=start, ends_at=start + dt.timedelta(hours=10))
        source = factories.SourceFactory()
        with transaction.atomic():
            Webhook.objects.create(owner=admin, url=receiver.url, events=["flag.raised"], secret=webhooks.new_secret())
        time.sleep(5)  # the worker starts

        log(f"latency: {args.flags} reports, one at a time")
        latencies = []
        for n in range(args.flags + 5):
            before = set(receiver.arrived)
            report = HostilityReport(
                site=site, kind="shelling", source=source, started_at=start + dt.timedelta(minutes=n % 500)
            )
            with transaction.atomic():
                tracker_services.hostility_report_save(report=report, user=admin)
            committed = time.perf_counter()
            seen = len(before)
            wait(lambda seen=seen: len(receiver.arrived) > seen, 60, "the flag.raised arrived")
            new = (set(receiver.arrived) - before).pop()
            if n >= 5:  # the first few warm the worker up
                latencies.append(receiver.arrived[new] - committed)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]

        log(f"fan-out: {args.events} events × {args.endpoints} endpoints")
        Webhook.objects.all().delete()
        hooks = [
            Webhook.objects.create(
                owner=admin, url=receiver.url, events=["figure.created"], secret=webhooks.new_secret()
            )
            for _ in range(args.endpoints)
        ]
        data = {"id": 1, "site": site.pk, "kind": "shelling", "description": "x" * 200}
        total = args.events * args.endpoints
        receiver.count = 0
        began = time.perf_counter()
        with transaction.atomic():
            emitted = events.events_emit(
                event_type="figure.created",
                resource="hostilities",
                items=[(data, [corridor.pk])] * args.events,
                now=dt.datetime.now(UTC),
            )
        wait(lambda: receiver.count >= total, 600, "every delivery arrived")
        fanout = time.perf_counter() - began

        log("plain loop of signed POSTs")
        receiver.count = 0
        began = time.perf_counter()
        for event in emitted:
            for hook in hooks:
                webhooks.send(hook, event, now=dt.datetime.now(UTC))
        loop = time.perf_counter() - began
        assert receiver.count == total
    finally:
        worker.terminate()
        worker.wait(30)
        redis.terminate()
        receiver.server.shutdown()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    block = "\n".join(
        [
            f"Measured at `{commit.strip()}` on {dt.datetime.now(UTC):%Y-%m-%d}, PostgreSQL, one `celery worker` "
            "(prefork, concurrency 2), a redis-server and the receiver on the same machine (shared with other work):",
            "",
            "| what | figure |",
            "|---|---|",
            f"| report committed → its `flag.raised` received, p50 ({len(latencies)} flags) | {p50 * 1000:.0f} ms |",
            f"| the same, p95 (target ≤ 1 s) | {p95 * 1000:.0f} ms |",
            f"| {args.events:,} events × {args.endpoints} endpoints ({total:,} deliveries), commit → all received "
            f"| {fanout:.1f} s ({total / fanout:.0f}/s) |",
            f"| the same {total:,} signed POSTs in a plain loop (one process) | {loop:.1f} s ({total / loop:.0f}/s) |",
            f"| fan-out ÷ plain loop | {fanout / loop:.2f} |",
            "",
            "Command: `DATABASE_URL=postgres://…/tracker_bench_webhooks .venv/bin/python bench/webhooks.py --write`.",
        ]
    )
    print(block)
    if args.write:
        text = DOCS.read_text()
        start_marker, end_marker = MARKERS
        if start_marker in text:
            text = (
                text[: text.index(start_marker) + len(start_marker)]
                + "\n"
                + block
                + "\n"
                + text[text.index(end_marker) :]
            )
        else:
            text = text.rstrip("\n") + f"\n\n## Webhooks\n\n{start_marker}\n{block}\n{end_marker}\n"
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
