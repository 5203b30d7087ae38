"""
Benchmark of bulk import on PostgreSQL (not a test; figures in docs/benchmarks.md).

    .venv/bin/python bench/imports.py --acled 10000 100000 --xlsx 10000
    .venv/bin/python bench/imports.py --statements 200    # round trips per row, by kind

For each size, in its own database (BENCH_DATABASE_URL, default
postgres://root@127.0.0.1:5432/tracker_imports_bench), with 500 sites and 1,000
corridor windows over them, it writes an ACLED-format CSV of that many events (all of
them hostilities at named sites) and measures, each in a fresh process:

- the preview (every row parsed, checked and written, then rolled back);
- the apply (the same, committed, with the history, the import records and the
  batched flag checks, which run in-process after the commit as in the embedded mode);
- the floor: a bare COPY of the same rows, already computed, into the same table;
- the peak memory (VmHWM) of the process that previews, to see whether it grows with
  the file (the file's bytes are held; rows are streamed).

And the same for an XLSX of civilian counts (`--xlsx`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tracker_imports_bench")
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    DJANGO_SETTINGS_MODULE="tracker.settings",
    LOG_LEVEL="WARNING",
    IMPORT_MAX_ROWS="1000000",
    IMPORT_MAX_BYTES=str(512 * 1024 * 1024),
)
os.environ.pop("REDIS_URL", None)  # tasks run in-process, after the commit, as in the embedded mode

import django  # noqa: E402

django.setup()

from common import copy_rows, log, reset_database  # noqa: E402
from django.db import connection  # noqa: E402

from corridors.models import Corridor, CorridorWindow, Flag  # noqa: E402
from tests.conflict_data import ACLED_COLUMNS  # noqa: E402
from tracker.imports import services as imports  # noqa: E402
from tracker.models import (  # noqa: E402
    HostilityReport,
    ImportBatch,
    Organisation,
    Role,
    Site,
    Source,
    User,
)

UTC = dt.UTC
SITES = 500
WINDOWS = 1000


def peak_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def build() -> None:
    """A fresh database with the sites, windows and the importing reporter."""
    reset_database(DATABASE_URL)
    rng = random.Random(20220504)
    organisation = Organisation.objects.create(name="Bench NGO")
    User.objects.create_user("bench", password="x", organisation=organisation, role=Role.REPORTER)  # noqa: S106
    Site.objects.bulk_create(
        Site(name=f"Site {i}", kind="city", latitude=46 + rng.random() * 4, longitude=30 + rng.random() * 8)
        for i in range(SITES)
    )
    sites = list(Site.objects.values_list("pk", flat=True))
    Corridor.objects.bulk_create(
        Corridor(name=f"Corridor {i}", origin_id=sites[i], destination_id=sites[-1 - i], status="announced")
        for i in range(WINDOWS // 10)
    )
    corridors = list(Corridor.objects.values_list("pk", flat=True))
    start = dt.datetime(2022, 3, 1, 5, tzinfo=UTC)
    CorridorWindow.objects.bulk_create(
        CorridorWindow(
            corridor_id=corridors[i % len(corridors)],
            starts_at=start + dt.timedelta(days=i // len(corridors) * 3),
            ends_at=start + dt.timedelta(days=i // len(corridors) * 3, hours=10),
        )
        for i in range(WINDOWS)
    )


def acled_csv(n: int) -> bytes:
    rng = random.Random(n)
    sites = list(Site.objects.values_list("name", "latitude", "longitude"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ACLED_COLUMNS)
    for i in range(n):
        name, lat, lon = sites[rng.randrange(len(sites))]
        day = dt.date(2022, 3, 1) + dt.timedelta(days=rng.randrange(270))
        row = dict.fromkeys(ACLED_COLUMNS, "")
        row.update(
            event_id_cnty=f"UKR{i + 1}",
            event_date=day.isoformat(),
            year="2022",
            time_precision=rng.choice("1112"),
            event_type="Explosions/Remote violence",
            sub_event_type=rng.choice(["Shelling/artillery/missile attack", "Air/drone strike", "Armed clash"]),
            actor1="Military Forces of Russia (2000-)",
            country="Ukraine",
            admin1="Donetsk",
            location=name,
            latitude=f"{lat:.4f}",
            longitude=f"{lon:.4f}",
            source="Ukrinform",
            notes="Shelling of residential areas reported by the city council. " * 3,
            fatalities=str(rng.randrange(5)),
            timestamp="1652745600",
        )
        writer.writerow(row.values())
    return out.getvalue().encode()


def counts_xlsx(n: int) -> bytes:
    import openpyxl

    rng = random.Random(n)
    sites = list(Site.objects.values_list("pk", flat=True))
    source = Source.objects.get_or_create(name="Bench source", defaults={"kind": "other"})[0]
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["site", "as_of", "count", "qualifier", "source"])
    for i in range(n):
        as_of = dt.datetime(2022, 3, 1, tzinfo=UTC) + dt.timedelta(minutes=i)
        sheet.append([rng.choice(sites), as_of.isoformat(), rng.randrange(10_000), "approximately", source.pk])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def child(phase: str, path: str, resource: str, file_format: str) -> dict:
    """One measurement in this process: upload the file, then preview or apply it."""
    user = User.objects.get(username="bench")
    content = Path(path).read_bytes()
    batch = ImportBatch.objects.create(
        resource=resource,
        format=file_format,
        file_name=Path(path).name,
        checksum="-",
        size=len(content),
        content=content,
        organisation=user.organisation,
        created_by=user,
    )
    del content
    before = peak_kib()
    started = time.perf_counter()
    imports.import_run(batch_id=batch.pk, apply=phase == "apply")
    seconds = time.perf_counter() - started
    batch.refresh_from_db()
    assert not batch.errors, batch.errors[:3]
    return {
        "seconds": seconds,
        "peak_kib": peak_kib(),
        "peak_before_kib": before,
        "rows": batch.rows_total,
        "created": batch.created,
        "flags": Flag.objects.count(),
    }


def read_child(path: str, kind: str) -> dict:
    """Only read the file as the import does (rows streamed, nothing written): time and peak memory."""
    from tracker.imports import readers

    content = Path(path).read_bytes()
    before = peak_kib()
    started = time.perf_counter()
    table = readers.read_table(content, kind=kind, max_rows=10_000_000)
    rows = sum(1 for _row in table.rows)
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_kib": peak_kib(), "before_kib": before}


def statements(n: int) -> None:
    """
    The database round trips per row of an ACLED apply of `n` events, by kind: a figure
    that does not depend on the machine's load, unlike the times.
    """
    import collections
    import re

    build()
    content = acled_csv(n)
    user = User.objects.get(username="bench")
    batch = ImportBatch.objects.create(
        resource="hostilities",
        format="acled",
        file_name="statements.csv",
        checksum="-",
        size=len(content),
        content=content,
        organisation=user.organisation,
        created_by=user,
    )
    tally: collections.Counter[str] = collections.Counter()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        tally[re.sub(r"\s+", " ", re.sub(r"\d+", "N", sql))[:60]] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        imports.import_run(batch_id=batch.pk, apply=True)
    batch.refresh_from_db()
    assert not batch.errors, batch.errors[:3]
    total = sum(tally.values())
    print(f"apply of {n} ACLED events: {total} statements, {total / n:.1f} a row")
    for statement, times in tally.most_common(20):
        print(f"{times / n:6.2f} a row  {statement}")


def run_child(phase: str, path: Path, resource: str, file_format: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", phase, str(path), resource, file_format],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bare_copy() -> float:
    """COPY the reports the apply wrote, as computed rows, into the same table (after removing them): the floor."""
    columns = [f.column for f in HostilityReport._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM tracker_hostilityreport")
        rows = cursor.fetchall()
        cursor.execute("TRUNCATE corridors_flag, tracker_hostilityreport CASCADE")
    started = time.perf_counter()
    copy_rows("tracker_hostilityreport", columns, rows)
    return time.perf_counter() - started


def measure(label: str, content: bytes, resource: str, file_format: str, tmp: Path) -> dict:
    path = tmp / f"bench-{label}.{'xlsx' if file_format == 'xlsx' else 'csv'}"
    path.write_bytes(content)
    log(f"{label}: {len(content) / 1e6:.1f} MB, preview")
    preview = run_child("preview", path, resource, file_format)
    log(f"{label}: preview {preview['seconds']:.1f} s, apply")
    apply = run_child("apply", path, resource, file_format)
    log(f"{label}: apply {apply['seconds']:.1f} s, {apply['flags']} flags")
    result = {"label": label, "bytes": len(content), "preview": preview, "apply": apply}
    if resource == "hostilities":
        result["copy_seconds"] = bare_copy()
        log(f"{label}: bare COPY {result['copy_seconds']:.2f} s")
    return result


def read_only(sizes: list[int]) -> None:
    """Reading alone, each size in a fresh process: does the peak memory grow with the file beyond its bytes?"""
    build()
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    for n in sizes:
        for kind, content in (("csv", acled_csv(n)), ("xlsx", counts_xlsx(n))):
            path = tmp / f"bench-read-{n}.{kind}"
            path.write_bytes(content)
            out = subprocess.run(
                [sys.executable, __file__, "--read-child", str(path), kind], check=True, capture_output=True, text=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"read {kind} {n} rows: {len(content) / 1e6:.1f} MB, {r['seconds']:.2f} s "
                f"({r['rows'] / r['seconds']:.0f} rows/s), peak {r['peak_kib'] / 1024:.0f} MiB "
                f"(after loading the bytes: {r['before_kib'] / 1024:.0f} MiB)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--acled", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--xlsx", type=int, nargs="*", default=[10_000])
    parser.add_argument("--child", nargs=4)
    parser.add_argument("--read", type=int, nargs="*", default=[], help="only read ACLED CSVs and XLSXs of N rows")
    parser.add_argument("--read-child", nargs=2)
    parser.add_argument("--statements", type=int, help="count the database round trips per row of an N-event apply")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.read_child:
        print(json.dumps(read_child(*args.read_child)))
        return
    if args.read:
        read_only(args.read)
        return
    if args.statements:
        statements(args.statements)
        return
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    results = []
    for n in args.acled:
        build()
        results.append(measure(f"acled-{n}", acled_csv(n), "hostilities", "acled", tmp))
    for n in args.xlsx:
        build()
        results.append(measure(f"xlsx-{n}", counts_xlsx(n), "counts", "xlsx", tmp))
    print(json.dumps(results, indent=2))
    for r in results:
        preview, apply = r["preview"], r["apply"]
        line = (
            f"{r['label']}: {r['bytes'] / 1e6:.1f} MB; preview {preview['seconds']:.1f} s "
            f"({preview['rows'] / preview['seconds']:.0f} rows/s, peak {preview['peak_kib'] / 1024:.0f} MiB); "
            f"apply {apply['seconds']:.1f} s (peak {apply['peak_kib'] / 1024:.0f} MiB)"
        )
        if "copy_seconds" in r:
            ratio = apply["seconds"] / r["copy_seconds"]
            line += f"; bare COPY {r['copy_seconds']:.2f} s; apply / COPY = {ratio:.0f}x"
        print(line)


if __name__ == "__main__":
    main()
