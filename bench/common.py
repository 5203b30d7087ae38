"""What the benchmarks share: a log line, a fresh database, rows written with COPY, wrk and its figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connection


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


def reset_database(database_url: str) -> None:
    """Drop and recreate the database Django is set to use (on the server of `database_url`), then migrate it."""
    import psycopg

    name = connection.settings_dict["NAME"]
    connection.close()
    admin_url = database_url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def copy_rows(table: str, columns: list[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write these rows with COPY, then move the table's id sequence past them; how many rows."""
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return n


def write_a_count(i: int) -> int:
    """A new count at one of the sites the overview lists (its i-th), saved as a reporter saves one; its figure."""
    from django.db import transaction
    from django.utils import timezone

    from tracker import services
    from tracker.models import CivilianCount, LatestCount, Source, User

    latest = LatestCount.objects.order_by("-count", "site__name", "site_id")[i % 50]
    reporter = User.objects.filter(role="reporter", organisation__isnull=False).order_by("id").first()
    count = CivilianCount(
        site_id=latest.site_id,
        source=Source.objects.order_by("id").first(),
        as_of=timezone.now(),
        count=latest.count + 1,
        qualifier="approximately",
    )
    with transaction.atomic():  # commits: the kept pages go stale, as after a reporter's write
        services.figure_save(figure=count, user=reporter)
    return count.count


def shows(body: bytes, figure: int) -> bool:
    """Whether a page shows this figure (grouped as English or Ukrainian write it: 1,234 or 1 234)."""
    plain = re.sub(rb"(?<=\d)(?:,|\xc2\xa0|\xe2\x80\xaf|&nbsp;|&#160;| )(?=\d{3}\b)", b"", body)
    return re.search(rb"(?<![\d.])%d(?![\d.])" % figure, plain) is not None


# --- wrk: C, one thread, a few percent of a core: it does not measure itself ----------

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


def load(
    wrk: str, script: Path, url: str, seconds: int, connections: int, headers: Sequence[str] = ()
) -> tuple[float, int, list[int]]:
    """One wrk run (one thread) on `url`: its length in seconds, its requests and their latency quantiles in µs."""
    extra = [arg for header in headers for arg in ("-H", header)]
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), *extra, url],
        capture_output=True,
        text=True,
    )
    out = result.stdout
    line = next((line for line in out.splitlines() if line.startswith("RESULT ")), None)
    if result.returncode or line is None:
        raise SystemExit(f"wrk failed on {url}:\n{out[:2000]}\n{result.stderr[:2000]}")
    requests, duration_us, errors = (int(x) for x in line.split()[1:])
    if errors:
        raise SystemExit(f"wrk counted {errors} errors on {url}:\n{out[:2000]}")
    quantiles = [int(q.split()[1]) for q in out.splitlines() if q.startswith("Q ")]
    return duration_us / 1e6, requests, quantiles
