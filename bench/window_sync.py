"""
What moving a window's `updated_at` with its movements and flags (tracker/sync.py) costs
the writes that do it: a departure saved through the service (a request's transaction)
and a flag check that raises then withdraws a report's flags on 20 windows, each
with the window stamped and with `sync_touch` made a no-op, interleaved in the same run
on PostgreSQL. The ratio of the medians is what counts (the machine is shared).

    .venv/bin/python bench/window_sync.py            # print the table
    .venv/bin/python bench/window_sync.py --write    # and put it in docs/benchmarks.md

Its own database: BENCH_DATABASE_URL, default postgres://root@127.0.0.1:5432/tracker_sync_bench.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_sync_bench")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
os.environ.pop("REDIS_URL", None)  # tasks run eagerly, as in the embedded mode

import django  # noqa: E402

django.setup()

from common import log, reset_database  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from corridors import flagging  # noqa: E402
from corridors.models import Corridor, CorridorWindow, Departure  # noqa: E402
from tracker import services  # noqa: E402
from tracker.models import HostilityReport, Organisation, Role, Site, Source, User  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- bench/window_sync.py --write: start -->", "<!-- bench/window_sync.py --write: end -->")
UTC = dt.UTC
START = dt.datetime(2022, 5, 1, 5, tzinfo=UTC)


def build() -> dict[str, object]:
    reset_database(DATABASE_URL)
    ngo = Organisation.objects.create(name="Bench NGO")
    user = User.objects.create(username="bench", organisation=ngo, role=Role.REPORTER)
    origin = Site.objects.create(name="Azovstal", kind="shelter", latitude=47.1, longitude=37.6)
    destination = Site.objects.create(name="Zaporizhzhia", kind="city", latitude=47.8, longitude=35.2)
    corridor = Corridor.objects.create(name="Bench corridor", origin=origin, destination=destination)
    windows = [
        CorridorWindow.objects.create(
            corridor=corridor, starts_at=START + dt.timedelta(days=i), ends_at=START + dt.timedelta(days=i, hours=10)
        )
        for i in range(20)
    ]
    source = Source.objects.create(name="Field team")
    report = HostilityReport.objects.create(
        site=origin, kind="shelling", started_at=START, ended_at=START + dt.timedelta(days=20), source=source
    )
    return {"user": user, "origin": origin, "windows": windows, "source": source, "report": report}


def departure_save(world: dict) -> Callable[[], None]:
    def run() -> None:
        with transaction.atomic():
            window = world["windows"][0]
            services.figure_save(
                figure=Departure(
                    origin=world["origin"],
                    window=window,
                    departed_at=window.starts_at + dt.timedelta(hours=1),
                    count=10,
                    source=world["source"],
                ),
                user=world["user"],
            )

    return run


def flags_raise_and_withdraw(world: dict) -> Callable[[], None]:
    report = world["report"]

    def run() -> None:
        HostilityReport.objects.filter(pk=report.pk).update(verification="unverified")
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())  # raises or reopens 20 flags
        HostilityReport.objects.filter(pk=report.pk).update(verification="retracted")
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())  # withdraws them

    return run


def measure(run: Callable[[], None], *, rounds: int, per_round: int) -> tuple[float, float]:
    """Median milliseconds per operation with the stamps, and with sync_touch a no-op, interleaved."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for stamped in (True, False) if r % 2 == 0 else (False, True):
            # Where the writers call it from.
            patches = [
                mock.patch(f"{module}.sync_touch", lambda **_: None)
                for module in ("tracker.services", "corridors.flagging", "corridors.services")
                if not stamped
            ]
            for patch in patches:
                patch.start()
            try:
                for _ in range(per_round):
                    began = time.perf_counter()
                    run()
                    times[stamped].append((time.perf_counter() - began) * 1000)
            finally:
                for patch in patches:
                    patch.stop()
    return statistics.median(times[True]), statistics.median(times[False])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    logging.getLogger("corridors.flags").setLevel(logging.WARNING)  # a line per flag otherwise
    log("building")
    world = build()
    load_before = os.getloadavg()[0]
    rows = []
    for name, run, per_round in (
        ("a departure saved (service, one transaction)", departure_save(world), 20),
        ("a flag check raising, then one withdrawing, 20 flags on 20 windows", flags_raise_and_withdraw(world), 3),
    ):
        log(name)
        run()  # warm-up
        stamped, bare = measure(run, rounds=args.rounds, per_round=per_round)
        rows.append(f"| {name} | {stamped:.2f} ms | {bare:.2f} ms | **{stamped / bare:.2f}×** |")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    when = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(
        [
            f"Run on {when} (commit `{commit.strip()}`), PostgreSQL on the same 2-core machine, shared "
            f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after); {args.rounds} interleaved "
            "rounds of each, medians per operation:",
            "",
            "| write | window stamped | `sync_touch` a no-op | ratio |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )
    print(table)
    if args.write:
        text = DOCS.read_text()
        start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
        DOCS.write_text(text[:start] + "\n" + table + "\n" + text[end:])


if __name__ == "__main__":
    main()
