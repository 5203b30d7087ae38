"""
The flag engine's candidate queries (docs/design.md "Space" and "Flags"), as SQL for
each database: which (window, hostility report) pairs touch in space (the corridor's
path and the site tree, one recursive CTE built by `lineage_cte`) and overlap in time
(the stored coverage range, by index), beside the existing flags of a scope. The
queries only narrow the pairs down: corridors/flagging.py decides each with the
overlap rule (corridors/overlap.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from django.db import connection

from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, Flag
from tracker.models import HostilityReport, Site, Verification

UTC = dt.UTC

# Rows psycopg reads from PostgreSQL at a time while a check streams its pairs.
STREAM_ROWS = 1_000

WINDOWS = CorridorWindow._meta.db_table
REPORTS = HostilityReport._meta.db_table
SITES = Site._meta.db_table
CORRIDORS = Corridor._meta.db_table
WAYPOINTS = CorridorWaypoint._meta.db_table
FLAGS = Flag._meta.db_table

# The overlap of a report's stored coverage with a window, half-open: on PostgreSQL as
# ranges, which the GiST indexes (site, coverage) and (corridor, window) answer;
# elsewhere as comparisons on the b-tree index (site, coverage_start). Same result.
RANGES_OVERLAP = "tstzrange(r.coverage_start, r.coverage_end, '[)') && tstzrange(w.starts_at, w.ends_at, '[)')"
COMPARISONS_OVERLAP = "r.coverage_start < w.ends_at AND (r.coverage_end IS NULL OR r.coverage_end > w.starts_at)"

# A report's coverage is read as stored (HostilityReport.save() derives it with the
# rule's own covered_interval(), and a change of its site's zone derives it again):
# the key the candidates were found by is the coverage they are decided on.
COLUMNS = (
    "w.id AS window_id, w.starts_at, w.ends_at, r.id AS report_id,"
    " r.coverage_start, r.coverage_end, r.ended_at, r.ongoing, r.time_precision"
)


def lineage_cte(seed: str, *, key: str | None = None, name: str = "lineage") -> str:
    """
    The CTEs `up`, `down` and `name`: the sites that `seed` selects (with the `key`
    each stands for, if given: `SELECT key, site_id ...`), their ancestors and their
    descendants in the site tree (docs/design.md "Space"). UNION (not UNION ALL) also
    stops the recursion on a cycle, which Site.clean() forbids anyway.
    """
    keys = f"{key}, " if key else ""
    up_key, down_key = (f"up.{key}, ", f"down.{key}, ") if key else ("", "")
    return f"""up({keys}site_id) AS (
    {seed}
    UNION SELECT {up_key}s.parent_id FROM up JOIN {SITES} s ON s.id = up.site_id WHERE s.parent_id IS NOT NULL
),
down({keys}site_id) AS (
    {seed}
    UNION SELECT {down_key}s.id FROM down JOIN {SITES} s ON s.parent_id = down.site_id
),
{name}({keys}site_id) AS (SELECT {keys}site_id FROM up UNION SELECT {keys}site_id FROM down)"""  # noqa: S608 - table names from the models


# The sites that touch each corridor: every site on its path, their ancestors and
# their descendants.
REACH_OF_WINDOWS = f"""
corridor_ids(id) AS (SELECT DISTINCT corridor_id FROM {WINDOWS} WHERE id {{ids}}),
path(corridor_id, site_id) AS (
    SELECT c.id, c.origin_id FROM {CORRIDORS} c JOIN corridor_ids ON corridor_ids.id = c.id
    UNION SELECT c.id, c.destination_id FROM {CORRIDORS} c JOIN corridor_ids ON corridor_ids.id = c.id
    UNION SELECT p.corridor_id, p.site_id FROM {WAYPOINTS} p JOIN corridor_ids ON corridor_ids.id = p.corridor_id
),
{lineage_cte("SELECT corridor_id, site_id FROM path", key="corridor_id", name="reach")}
"""  # noqa: S608 - table names from the models, values as parameters

# The same relation seen from the reports' side: for each report site ("root"), its
# ancestors and descendants, and the corridors whose path holds one of them.
TOUCHING_REPORTS = f"""
seed(root) AS (SELECT DISTINCT site_id FROM {REPORTS} WHERE id {{ids}}),
{lineage_cte("SELECT root, root FROM seed", key="root")},
touching(root, corridor_id) AS (
    SELECT l.root, c.id FROM lineage l JOIN {CORRIDORS} c ON c.origin_id = l.site_id
    UNION SELECT l.root, c.id FROM lineage l JOIN {CORRIDORS} c ON c.destination_id = l.site_id
    UNION SELECT l.root, p.corridor_id FROM lineage l JOIN {WAYPOINTS} p ON p.site_id = l.site_id
)
"""  # noqa: S608 - table names from the models, values as parameters

NOT_RETRACTED = f"r.verification <> '{Verification.RETRACTED}'"


def ids_in(values: Sequence[int]) -> tuple[str, list[Any]]:
    """`<column> {sql}` is true for these ids: one array parameter on PostgreSQL, a list elsewhere."""
    if postgres():
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def postgres() -> bool:
    return connection.vendor == "postgresql"


def window_candidates_sql(window_ids: Sequence[int], columns: str = COLUMNS) -> tuple[str, list[int]]:
    """Every (window, report) pair of these windows that touches in space and whose ranges overlap."""
    ids, params = ids_in(window_ids)
    if postgres():
        # One GiST probe on (site, range) per (window, site in reach): LATERAL, fenced
        # with OFFSET 0 so the planner cannot flatten it. Left to itself, misled by the
        # recursive CTE's estimate, it probes by time alone and filters sites after.
        reports = f"""CROSS JOIN LATERAL (
            SELECT r.id, r.coverage_start, r.coverage_end, r.ended_at, r.ongoing, r.time_precision FROM {REPORTS} r
            WHERE r.site_id = reach.site_id AND {NOT_RETRACTED} AND {RANGES_OVERLAP}
            OFFSET 0
        ) r"""  # noqa: S608 - table names from the models, values as parameters
    else:
        reports = f"JOIN {REPORTS} r ON r.site_id = reach.site_id AND {NOT_RETRACTED} AND {COMPARISONS_OVERLAP}"
    sql = f"""
        WITH RECURSIVE {REACH_OF_WINDOWS.format(ids=ids)}
        SELECT {columns}
        FROM {WINDOWS} w
        JOIN reach ON reach.corridor_id = w.corridor_id
        {reports}
        WHERE w.id {ids} AND NOT w.cancelled
    """  # noqa: S608 - table names from the models, values as parameters
    return sql, [*params, *params]


def report_candidates_sql(
    report_ids: Sequence[int], window_ids: Sequence[int] | None = None, columns: str = COLUMNS
) -> tuple[str, list[int]]:
    """Every (window, report) pair of these reports (and of these windows, if given), as above."""
    ids, params = ids_in(report_ids)
    windows_in, window_params = ids_in(window_ids) if window_ids is not None else ("", [])
    only_windows = f"AND w.id {windows_in}" if window_ids is not None else ""
    if postgres():
        windows = f"""CROSS JOIN LATERAL (
            SELECT w.id, w.starts_at, w.ends_at FROM {WINDOWS} w
            WHERE w.corridor_id = t.corridor_id AND NOT w.cancelled {only_windows} AND {RANGES_OVERLAP}
            OFFSET 0
        ) w"""  # noqa: S608 - table names from the models, values as parameters
    else:
        windows = f"""JOIN {WINDOWS} w ON w.corridor_id = t.corridor_id AND NOT w.cancelled {only_windows}
            AND {COMPARISONS_OVERLAP}"""
    sql = f"""
        WITH RECURSIVE {TOUCHING_REPORTS.format(ids=ids)}
        SELECT {columns}
        FROM {REPORTS} r
        JOIN touching t ON t.root = r.site_id
        {windows}
        WHERE r.id {ids} AND {NOT_RETRACTED}
    """  # noqa: S608 - table names from the models, values as parameters
    return sql, [*params, *window_params, *params]


def corridors_touching_site(site_id: int) -> set[int]:
    """The corridors a report at this site touches, in the site tree as it is now."""
    sql = f"""
        WITH RECURSIVE {lineage_cte("SELECT CAST(%s AS BIGINT)")}
        SELECT c.id FROM {CORRIDORS} c
        WHERE c.origin_id IN (SELECT site_id FROM lineage) OR c.destination_id IN (SELECT site_id FROM lineage)
        UNION SELECT p.corridor_id FROM {WAYPOINTS} p WHERE p.site_id IN (SELECT site_id FROM lineage)
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [site_id, site_id])
        return {row[0] for row in cursor.fetchall()}


def aware(value: Any) -> dt.datetime | None:
    """A timestamp from a raw query: aware from PostgreSQL, UTC text from SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The flags of a scope, in the columns each row of pairs_with_flags() ends with.
FLAG_COLUMNS = "window_id, hostility_id, id, overlap_start, overlap_end, certainty, status"
# The side of a row of pairs_with_flags() that is missing: no flag yet, or no longer a candidate.
NO_FLAG = (None,) * len(FLAG_COLUMNS.split(","))
NO_PAIR = (None,) * len(COLUMNS.split(","))


def flags_sql(window_ids: Sequence[int], report_ids: Sequence[int] | None = None) -> tuple[str, list[Any]]:
    """The flags of these windows (and of these reports only, if given)."""
    windows_in, params = ids_in(window_ids)
    reports_in, report_params = ids_in(report_ids) if report_ids is not None else ("", [])
    only_reports = f"AND hostility_id {reports_in}" if report_ids is not None else ""
    sql = f"SELECT {FLAG_COLUMNS} FROM {FLAGS} WHERE window_id {windows_in} {only_reports}"  # noqa: S608
    return sql, [*params, *report_params]


def pairs_with_flags(candidates: tuple[str, list[Any]], flags: tuple[str, list[Any]]) -> Iterator[Sequence[Any]]:
    """
    Each candidate pair beside its flag, and each flag of the scope that is no longer a
    candidate: rows of COLUMNS then FLAG_COLUMNS, NULL on the side that is missing.

    On PostgreSQL one query (the candidates FULL JOIN the flags, hashed), streamed in
    binary: PostgreSQL goes on probing for pairs while Python decides the rows that
    came, and psycopg's C loaders read timestamps several times faster than Django's
    text loader. Elsewhere two queries, joined here in Python.
    """
    (sql, params), (flag_sql, flag_params) = candidates, flags
    if not postgres():
        with connection.cursor() as cursor:
            cursor.execute(flag_sql, flag_params)
            existing = {(row[0], row[1]): row for row in cursor.fetchall()}
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                yield (*row, *existing.pop((row[0], row[3]), NO_FLAG))
        for flag in existing.values():
            yield (*NO_PAIR, *flag)
        return
    tune_for_candidates()
    merged = f"""
        WITH pairs AS ({sql}), flags AS ({flag_sql})
        SELECT pairs.*, flags.* FROM pairs
        FULL JOIN flags ON flags.window_id = pairs.window_id AND flags.hostility_id = pairs.report_id
    """  # noqa: S608 - the queries above, values as parameters
    # On the connection and in the transaction Django holds (its own cursors bind
    # client-side: text only, and all rows at once).
    with psycopg.Cursor(connection.connection) as raw:
        yield from raw.stream(merged, [*params, *flag_params], binary=True, size=STREAM_ROWS)


def tune_for_candidates() -> None:
    """
    Only for this transaction. The recursive CTE's inflated row estimate would have
    PostgreSQL JIT-compile for longer than the candidate queries' index probes take,
    and size the hash of a scope's flags as if it held a hundred times as many rows:
    over the default work_mem, it would spill to disk.
    """
    if postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")


def fetch(sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    tune_for_candidates()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
