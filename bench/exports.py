"""
Benchmark of the whole-data-set exports on PostgreSQL (not a test; figures in docs/benchmarks.md).

    .venv/bin/python bench/exports.py --rows 100000 1000000

For each size, in its own database (BENCH_DATABASE_URL, default
postgres://root@127.0.0.1:5432/tracker_datausers_bench), it writes that many civilian
counts (at 100 sites) with COPY and measures, each in a fresh process:

- the export: `counts.csv` as /api/v1/downloads/ makes it (tracker/api/downloads.py:
  the public representation of every row, CSV with HXL; on PostgreSQL written by a COPY
  of the same cells, `copy_statement`);
- the Python path of the same export (the serializers and the csv module, a chunk of
  rows at a time, as on SQLite), up to `--python-up-to` rows;
- the floor: a bare `COPY (SELECT the same columns in the same order) TO STDOUT (FORMAT csv)`,
  read to the end by the same driver;
- the peak memory (VmHWM) of the exporting process, to see whether it grows with the rows.

Target: the export at least 0.3× as fast as the bare COPY, and its peak flat in the rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_datausers_bench")
os.environ.update(DATABASE_URL=DATABASE_URL, DJANGO_SETTINGS_MODULE="tracker.settings", LOG_LEVEL="WARNING")
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from common import copy_rows, log, reset_database  # noqa: E402
from django.db import connection  # noqa: E402

UTC = dt.UTC
SITES = 100
START = dt.datetime(2022, 2, 24, tzinfo=UTC)


class Counter:
    """A binary file that keeps nothing: how many bytes were written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False


def peak_kib() -> int:
    """The process's peak resident memory (VmHWM), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def build(rows: int) -> None:
    from tracker.models import Organisation, Site, Source

    reset_database(DATABASE_URL)
    organisation = Organisation.objects.create(name="Helping Hands", acronym="HH")
    source = Source.objects.create(name="City council", kind="official", url="https://example.org")
    Site.objects.bulk_create(
        Site(
            name=f"Site {n}",
            kind="shelter" if n % 3 else "city",
            restricted=n % 3 != 0,
            latitude=47.1 + n / 1000,
            longitude=37.5 + n / 1000,
        )
        for n in range(SITES)
    )
    site_ids = list(Site.objects.values_list("pk", flat=True))

    def counts():
        for n in range(1, rows + 1):
            when = START + dt.timedelta(minutes=n)
            yield (
                n,
                when,
                when,
                "unverified",
                organisation.pk,
                None,
                source.pk,
                when,
                site_ids[n % SITES],
                when,
                100 + n % 1000,
                None,
                "approximately",
            )

    columns = [
        "id",
        "created_at",
        "updated_at",
        "verification",
        "organisation_id",
        "created_by_id",
        "source_id",
        "reported_at",
        "site_id",
        "as_of",
        "count",
        "count_high",
        "qualifier",
    ]
    copy_rows("tracker_civiliancount", columns, counts())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tracker_civiliancount")


def measure_export(*, fast: bool = True) -> dict[str, float]:
    from django.utils import timezone

    from tracker.api import downloads
    from tracker.api.views import CivilianCountViewSet

    out = Counter()
    started = time.perf_counter()
    view = downloads.public_view(CivilianCountViewSet, now=timezone.now())
    rows = downloads.write_csv(view, out, fast=fast)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "bytes": out.size, "peak_kib": peak_kib()}


def measure_copy() -> dict[str, float]:
    from tracker.api import downloads
    from tracker.api.views import CivilianCountViewSet

    view = downloads.public_view(CivilianCountViewSet, now=START)
    columns = view.get_serializer().plain_columns()
    table = view.get_queryset().model._meta.db_table
    ordering = ", ".join(
        f"{c.lstrip('-')} {'DESC' if c.startswith('-') else 'ASC'}" for c in view.queryset.query.order_by
    )
    size = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        sql = f"COPY (SELECT {', '.join(columns)} FROM {table} ORDER BY {ordering}) TO STDOUT (FORMAT csv, HEADER)"
        with cursor.cursor.copy(sql) as copy:
            for block in copy:
                size += len(block)
    return {"seconds": time.perf_counter() - started, "bytes": size, "peak_kib": peak_kib()}


def in_a_fresh_process(what: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--measure", what], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--measure", choices=["export", "export-python", "copy"])
    parser.add_argument(
        "--python-up-to", type=int, default=100_000, help="also time the Python path (no COPY) up to this many rows"
    )
    args = parser.parse_args()
    if args.measure:
        if args.measure == "copy":
            print(json.dumps(measure_copy()))
        else:
            print(json.dumps(measure_export(fast=args.measure == "export")))
        return
    table = []
    for rows in args.rows:
        log(f"{rows:,} counts: writing them with COPY")
        build(rows)
        connection.close()
        log("the bare COPY TO STDOUT")
        floor = in_a_fresh_process("copy")
        log(f"  {floor}")
        log("the export (counts.csv as downloads/ makes it)")
        export = in_a_fresh_process("export")
        log(f"  {export}")
        assert export["rows"] == rows, export
        python = None
        if rows <= args.python_up_to:
            log("the export by the Python path (serializers, csv module), as on SQLite")
            python = in_a_fresh_process("export-python")
            log(f"  {python}")
        table.append((rows, export, floor, python))
    print()
    print("| counts | export | its peak memory | bare COPY TO STDOUT | export speed ÷ COPY's | Python path (÷ COPY) |")
    print("|---|---|---|---|---|---|")
    for rows, export, floor, python in table:
        slow = (
            f"{python['seconds']:.2f} s, {python['peak_kib'] / 1024:.0f} MiB "
            f"({floor['seconds'] / python['seconds']:.2f}×)"
            if python
            else "not run"
        )
        print(
            f"| {rows:,} | {export['seconds']:.2f} s ({export['bytes'] / 1e6:.0f} MB) | "
            f"{export['peak_kib'] / 1024:.0f} MiB | {floor['seconds']:.2f} s ({floor['bytes'] / 1e6:.0f} MB) | "
            f"{floor['seconds'] / export['seconds']:.2f}× | {slow} |"
        )


if __name__ == "__main__":
    main()
