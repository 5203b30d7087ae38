"""
The flag engine (docs/design.md "Flags"): raise, update, withdraw and reopen the flags
of windows and hostility reports so that they say what the overlap rule
(corridors/overlap.py) says about the data as it is now.

How a check runs, whatever its scope (some reports, some windows, one corridor):

1. Read the outbox markers (FlagCheck) of the scope, before anything else: the
   changes they stand for are then committed and visible to every later read.
2. Lock the windows of the scope (FOR NO KEY UPDATE, in id order). Every writer of
   flags holds the lock of the flag's window, so two checks of one pair never race,
   and an edit of the window waits for the check (or the check for the edit).
3. Read the candidate pairs (space: the corridor's path and the site tree; time:
   the stored coverage range, by index) beside the existing flags of the scope, in
   one streamed query, and decide each row with the overlap rule as it comes.
4. Write only the difference, with its audit history; delete the markers read in 1.

A check computes from the state it reads after taking its locks, so a stale check
that runs late writes the same thing as a fresh one: running any of it twice, or
the sweep after a task, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from corridors import alerts, events, signals
from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, Flag, FlagCheck
from corridors.overlap import Overlap, WindowTimes, certainty, overlap_of_coverage
from tracker import pagecache
from tracker.coverage import Coverage, is_instant
from tracker.models import HostilityReport, Site, Verification
from tracker.sync import sync_touch

log = logging.getLogger("corridors.flags")
UTC = dt.UTC

# Windows per transaction in the sweep: bounds the memory and the time locks are held.
BATCH_SIZE = 500
# Reports per check in the sweep: each may touch many windows, all locked at once.
REPORT_BATCH_SIZE = 50
# Candidate pairs plus existing flags one reconciliation batch aims to go through. It
# keeps the windows, the reports and the changes it read, not the rows.
PAIR_BUDGET = 10_000
FIRST_BATCH_SIZE = 50
# Rows psycopg reads from PostgreSQL at a time while a check streams its pairs.
STREAM_ROWS = 1_000

W = CorridorWindow._meta.db_table
R = HostilityReport._meta.db_table
S = Site._meta.db_table
C = Corridor._meta.db_table
P = CorridorWaypoint._meta.db_table
F = Flag._meta.db_table

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

# The sites that touch each corridor (docs/design.md "Space"): every site on its path,
# their ancestors and their descendants. UNION (not UNION ALL) also stops the
# recursion on a cycle, which Site.clean() forbids anyway.
REACH_OF_WINDOWS = f"""
corridor_ids(id) AS (SELECT DISTINCT corridor_id FROM {W} WHERE id {{ids}}),
path(corridor_id, site_id) AS (
    SELECT c.id, c.origin_id FROM {C} c JOIN corridor_ids ON corridor_ids.id = c.id
    UNION SELECT c.id, c.destination_id FROM {C} c JOIN corridor_ids ON corridor_ids.id = c.id
    UNION SELECT p.corridor_id, p.site_id FROM {P} p JOIN corridor_ids ON corridor_ids.id = p.corridor_id
),
up(corridor_id, site_id) AS (
    SELECT corridor_id, site_id FROM path
    UNION SELECT up.corridor_id, s.parent_id FROM up JOIN {S} s ON s.id = up.site_id WHERE s.parent_id IS NOT NULL
),
down(corridor_id, site_id) AS (
    SELECT corridor_id, site_id FROM path
    UNION SELECT down.corridor_id, s.id FROM down JOIN {S} s ON s.parent_id = down.site_id
),
reach(corridor_id, site_id) AS (SELECT corridor_id, site_id FROM up UNION SELECT corridor_id, site_id FROM down)
"""  # noqa: S608 - table names from the models, values as parameters

# The same relation seen from the reports' side: for each report site ("root"), its
# ancestors and descendants, and the corridors whose path holds one of them.
TOUCHING_REPORTS = f"""
seed(root) AS (SELECT DISTINCT site_id FROM {R} WHERE id {{ids}}),
up(root, site_id) AS (
    SELECT root, root FROM seed
    UNION SELECT up.root, s.parent_id FROM up JOIN {S} s ON s.id = up.site_id WHERE s.parent_id IS NOT NULL
),
down(root, site_id) AS (
    SELECT root, root FROM seed
    UNION SELECT down.root, s.id FROM down JOIN {S} s ON s.parent_id = down.site_id
),
lineage(root, site_id) AS (SELECT root, site_id FROM up UNION SELECT root, site_id FROM down),
touching(root, corridor_id) AS (
    SELECT l.root, c.id FROM lineage l JOIN {C} c ON c.origin_id = l.site_id
    UNION SELECT l.root, c.id FROM lineage l JOIN {C} c ON c.destination_id = l.site_id
    UNION SELECT l.root, p.corridor_id FROM lineage l JOIN {P} p ON p.site_id = l.site_id
)
"""  # noqa: S608 - table names from the models, values as parameters

NOT_RETRACTED = f"r.verification <> '{Verification.RETRACTED}'"


def _in(values: Sequence[int]) -> tuple[str, list[Any]]:
    """`<column> {sql}` is true for these ids: one array parameter on PostgreSQL, a list elsewhere."""
    if _postgres():
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def window_candidates_sql(window_ids: Sequence[int], columns: str = COLUMNS) -> tuple[str, list[int]]:
    """Every (window, report) pair of these windows that touches in space and whose ranges overlap."""
    ids, params = _in(window_ids)
    if _postgres():
        # One GiST probe on (site, range) per (window, site in reach): LATERAL, fenced
        # with OFFSET 0 so the planner cannot flatten it. Left to itself, misled by the
        # recursive CTE's estimate, it probes by time alone and filters sites after.
        reports = f"""CROSS JOIN LATERAL (
            SELECT r.id, r.coverage_start, r.coverage_end, r.ended_at, r.ongoing, r.time_precision FROM {R} r
            WHERE r.site_id = reach.site_id AND {NOT_RETRACTED} AND {RANGES_OVERLAP}
            OFFSET 0
        ) r"""  # noqa: S608 - table names from the models, values as parameters
    else:
        reports = f"JOIN {R} r ON r.site_id = reach.site_id AND {NOT_RETRACTED} AND {COMPARISONS_OVERLAP}"
    sql = f"""
        WITH RECURSIVE {REACH_OF_WINDOWS.format(ids=ids)}
        SELECT {columns}
        FROM {W} w
        JOIN reach ON reach.corridor_id = w.corridor_id
        {reports}
        WHERE w.id {ids} AND NOT w.cancelled
    """  # noqa: S608 - table names from the models, values as parameters
    return sql, [*params, *params]


def report_candidates_sql(
    report_ids: Sequence[int], window_ids: Sequence[int] | None = None, columns: str = COLUMNS
) -> tuple[str, list[int]]:
    """Every (window, report) pair of these reports (and of these windows, if given), as above."""
    ids, params = _in(report_ids)
    windows_in, window_params = _in(window_ids) if window_ids is not None else ("", [])
    only_windows = f"AND w.id {windows_in}" if window_ids is not None else ""
    if _postgres():
        windows = f"""CROSS JOIN LATERAL (
            SELECT w.id, w.starts_at, w.ends_at FROM {W} w
            WHERE w.corridor_id = t.corridor_id AND NOT w.cancelled {only_windows} AND {RANGES_OVERLAP}
            OFFSET 0
        ) w"""  # noqa: S608 - table names from the models, values as parameters
    else:
        windows = f"""JOIN {W} w ON w.corridor_id = t.corridor_id AND NOT w.cancelled {only_windows}
            AND {COMPARISONS_OVERLAP}"""
    sql = f"""
        WITH RECURSIVE {TOUCHING_REPORTS.format(ids=ids)}
        SELECT {columns}
        FROM {R} r
        JOIN touching t ON t.root = r.site_id
        {windows}
        WHERE r.id {ids} AND {NOT_RETRACTED}
    """  # noqa: S608 - table names from the models, values as parameters
    return sql, [*params, *window_params, *params]


def corridors_touching_site(site_id: int) -> set[int]:
    """The corridors a report at this site touches, in the site tree as it is now."""
    sql = f"""
        WITH RECURSIVE
        up(site_id) AS (
            SELECT CAST(%s AS BIGINT)
            UNION SELECT s.parent_id FROM up JOIN {S} s ON s.id = up.site_id WHERE s.parent_id IS NOT NULL
        ),
        down(site_id) AS (
            SELECT CAST(%s AS BIGINT) UNION SELECT s.id FROM down JOIN {S} s ON s.parent_id = down.site_id
        ),
        lineage(site_id) AS (SELECT site_id FROM up UNION SELECT site_id FROM down)
        SELECT c.id FROM {C} c
        WHERE c.origin_id IN (SELECT site_id FROM lineage) OR c.destination_id IN (SELECT site_id FROM lineage)
        UNION SELECT p.corridor_id FROM {P} p WHERE p.site_id IN (SELECT site_id FROM lineage)
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [site_id, site_id])
        return {row[0] for row in cursor.fetchall()}


def _aware(value: Any) -> dt.datetime | None:
    """A timestamp from a raw query: aware from PostgreSQL, UTC text from SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The flags of a scope, in the columns each row of _pairs() ends with.
FLAG_COLUMNS = "window_id, hostility_id, id, overlap_start, overlap_end, certainty, status"
# The side of a row of _pairs() that is missing: no flag yet, or no longer a candidate.
NO_FLAG = (None,) * len(FLAG_COLUMNS.split(","))
NO_PAIR = (None,) * len(COLUMNS.split(","))


def flags_sql(window_ids: Sequence[int], report_ids: Sequence[int] | None = None) -> tuple[str, list[Any]]:
    """The flags of these windows (and of these reports only, if given)."""
    windows_in, params = _in(window_ids)
    reports_in, report_params = _in(report_ids) if report_ids is not None else ("", [])
    only_reports = f"AND hostility_id {reports_in}" if report_ids is not None else ""
    sql = f"SELECT {FLAG_COLUMNS} FROM {F} WHERE window_id {windows_in} {only_reports}"  # noqa: S608
    return sql, [*params, *report_params]


def _pairs(candidates: tuple[str, list[Any]], flags: tuple[str, list[Any]]) -> Iterator[Sequence[Any]]:
    """
    Each candidate pair beside its flag, and each flag of the scope that is no longer a
    candidate: rows of COLUMNS then FLAG_COLUMNS, NULL on the side that is missing.

    On PostgreSQL one query (the candidates FULL JOIN the flags, hashed), streamed in
    binary: PostgreSQL goes on probing for pairs while Python decides the rows that
    came, and psycopg's C loaders read timestamps several times faster than Django's
    text loader. Elsewhere two queries, joined here in Python.
    """
    (sql, params), (flag_sql, flag_params) = candidates, flags
    if not _postgres():
        with connection.cursor() as cursor:
            cursor.execute(flag_sql, flag_params)
            existing = {(row[0], row[1]): row for row in cursor.fetchall()}
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                yield (*row, *existing.pop((row[0], row[3]), NO_FLAG))
        for flag in existing.values():
            yield (*NO_PAIR, *flag)
        return
    _tune_for_candidates()
    merged = f"""
        WITH pairs AS ({sql}), flags AS ({flag_sql})
        SELECT pairs.*, flags.* FROM pairs
        FULL JOIN flags ON flags.window_id = pairs.window_id AND flags.hostility_id = pairs.report_id
    """  # noqa: S608 - the queries above, values as parameters
    # On the connection and in the transaction Django holds (its own cursors bind
    # client-side: text only, and all rows at once).
    with psycopg.Cursor(connection.connection) as raw:
        yield from raw.stream(merged, [*params, *flag_params], binary=True, size=STREAM_ROWS)


@dataclass
class Plan:
    """What a check must write to make the flags of its scope say what the rule says."""

    new: list[tuple[int, int, Overlap]] = field(default_factory=list)
    # Existing flags by id: "reopen", "update" or "withdraw", with the overlap they must get.
    changes: dict[int, tuple[str, Overlap | None]] = field(default_factory=dict)
    # Candidate pairs and existing flags the check went through (sizes the sweep's batches).
    pairs: int = 0


def _plan(rows: Iterable[Sequence[Any]]) -> Plan:
    """
    Decide each row of _pairs() with the overlap rule (the query only narrows the
    candidates down): raise a new flag, update one in place (a review state stays),
    reopen a withdrawn one that overlaps again, withdraw one whose overlap is gone.
    Never delete. Rows are read once, as they come; only the changes are kept.
    """
    plan = Plan()
    reports: dict[int, tuple[Coverage, str]] = {}
    windows: dict[int, WindowTimes] = {}
    withdrawn = Flag.Status.WITHDRAWN
    for row in rows:
        plan.pairs += 1
        (w_id, w_start, w_end, r_id, coverage_start, coverage_end, ended_at, ongoing, precision) = row[: len(NO_PAIR)]
        (_, _, pk, overlap_start, overlap_end, level, status) = row[len(NO_PAIR) :]
        found = None
        if r_id is not None:
            window = windows.get(w_id)
            if window is None:
                window = windows[w_id] = WindowTimes(_aware(w_start), _aware(w_end))  # type: ignore[arg-type]
            report = reports.get(r_id)
            if report is None:
                # Retracted reports are not among the candidates: the query leaves them out.
                instant = is_instant(ended_at=ended_at, ongoing=ongoing, precision=precision)
                coverage = Coverage.from_index_bounds(_aware(coverage_start), _aware(coverage_end), instant=instant)  # type: ignore[arg-type]
                report = reports[r_id] = (coverage, certainty(precision))
            found = overlap_of_coverage(window, *report)
        if pk is None:
            if found is not None:
                plan.new.append((w_id, r_id, found))
        elif found is None:
            if status != withdrawn:
                plan.changes[pk] = ("withdraw", None)
        elif status == withdrawn:
            plan.changes[pk] = ("reopen", found)
        elif (_aware(overlap_start), _aware(overlap_end), level) != found:
            plan.changes[pk] = ("update", found)
    return plan


@dataclass
class Outcome:
    """What a check changed. `raised` includes the `reopened` flags."""

    raised: list[Flag] = field(default_factory=list)
    reopened: list[Flag] = field(default_factory=list)
    updated: list[Flag] = field(default_factory=list)
    withdrawn: list[Flag] = field(default_factory=list)
    # Candidate pairs and existing flags the check went through (sizes the sweep's batches).
    pairs: int = 0

    def __bool__(self) -> bool:
        return bool(self.raised or self.updated or self.withdrawn)


def _keep_reports(report_ids: Iterable[int]) -> set[int]:
    """
    Of these reports, those that still exist, locked against deletion (FOR KEY SHARE)
    until this check commits. A report deleted since the candidates were read has
    nothing to flag: a flag raised on it would break its foreign key at the commit.
    Edits of the report do not wait (they take FOR NO KEY UPDATE); a deletion waits,
    and then finds the flag and refuses (tracker/services.py, figure_delete).
    """
    ids = sorted(set(report_ids))
    if not ids:
        return set()
    lock = " FOR KEY SHARE" if _postgres() else ""
    ids_in, params = _in(ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {R} WHERE id {ids_in} ORDER BY id{lock}", params)  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


def _apply(plan: Plan, now: dt.datetime) -> Outcome:
    """Write the plan, with its audit history."""
    outcome = _write(plan, now)
    # In this transaction: the outbox of the webhooks (corridors/events.py).
    events.flags_changed(event_type="flag.raised", flags=outcome.raised, now=now)
    alerts.flag_alerts_record(flags=outcome.raised, now=now)
    events.flags_changed(event_type="flag.updated", flags=outcome.updated, now=now)
    events.flags_changed(event_type="flag.withdrawn", flags=outcome.withdrawn, now=now)
    if outcome:
        # Bulk writes send no post_save: the kept public pages, which show flags, are stale.
        pagecache.public_data_changed()
    return outcome


def _write(plan: Plan, now: dt.datetime) -> Outcome:
    outcome = _write_flags(plan, now)
    # A window shows whether it is flagged and how many of its flags are open: a client
    # syncing windows with `updated_since` must be given it again. Its lock is held.
    touched = {flag.window_id for flag in (*outcome.raised, *outcome.withdrawn)}
    sync_touch(model=CorridorWindow, ids=touched)
    return outcome


def _write_flags(plan: Plan, now: dt.datetime) -> Outcome:
    outcome = Outcome(pairs=plan.pairs)
    if plan.new:
        kept = _keep_reports(r_id for _, r_id, _ in plan.new)
        plan.new = [new for new in plan.new if new[1] in kept]
    if plan.new:
        # One INSERT per batch for the flags and one for their history rows; no
        # conflict is possible, since every writer of a window's flags holds its lock.
        new = [
            Flag(
                window_id=w_id,
                hostility_id=r_id,
                overlap_start=found.start,
                overlap_end=found.end,
                certainty=found.certainty,
                status=Flag.Status.OPEN,
                raised_at=now,
            )
            for w_id, r_id, found in plan.new
        ]
        outcome.raised += bulk_create_with_history(new, Flag, batch_size=BATCH_SIZE, default_date=now)
    if not plan.changes:
        return outcome
    # Locked and read again: a coordinator's review may have been committed since the
    # rows above were read, and writing back a stale status would undo it.
    changed = list(Flag.objects.select_for_update().filter(pk__in=plan.changes).order_by("pk"))
    for flag in changed:
        action, change = plan.changes[flag.pk]
        if change is not None:
            flag.overlap_start, flag.overlap_end, flag.certainty = change.start, change.end, change.certainty
        if action == "reopen":
            # Raised again: the earlier review was about an overlap that had gone.
            flag.status, flag.raised_at = Flag.Status.OPEN, now
            flag.reviewed_by, flag.reviewed_at, flag.review_note = None, None, ""
            outcome.reopened.append(flag)
        elif action == "withdraw":
            flag.status = Flag.Status.WITHDRAWN
            outcome.withdrawn.append(flag)
        else:
            outcome.updated.append(flag)
        # bulk_update does not apply auto_now. The time of the write, not `now`, the
        # check's: a long reconciliation reads its clock once, and a flag stamped
        # minutes before it is committed could fall behind a syncing client's mark.
        flag.updated_at = timezone.now()
    outcome.raised += outcome.reopened
    # A bulk UPDATE and a bulk insert of the history rows that keep the earlier values.
    bulk_update_with_history(
        changed,
        Flag,
        fields=[
            "overlap_start",
            "overlap_end",
            "certainty",
            "status",
            "raised_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "updated_at",
        ],
        batch_size=BATCH_SIZE,
        default_date=now,
    )
    return outcome


def _announce_on_commit(outcome: Outcome) -> None:
    if outcome.raised or outcome.withdrawn:
        transaction.on_commit(
            lambda: signals.announce(raised=outcome.raised, withdrawn=outcome.withdrawn, reopened=outcome.reopened)
        )


def _markers(target: str, ids: Sequence[int]) -> list[int]:
    return list(FlagCheck.objects.filter(target=target, target_id__in=ids).values_list("pk", flat=True))


def _lock_windows(window_ids: Iterable[int]) -> list[int]:
    """Lock these windows in id order (a fixed order, so two checks cannot deadlock); the ids that exist."""
    return list(
        CorridorWindow.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(window_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _tune_for_candidates() -> None:
    """
    Only for this transaction. The recursive CTE's inflated row estimate would have
    PostgreSQL JIT-compile for longer than the candidate queries' index probes take,
    and size the hash of a scope's flags as if it held a hundred times as many rows:
    over the default work_mem, it would spill to disk.
    """
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")


def _fetch(sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    _tune_for_candidates()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _check_windows_locked(window_ids: list[int], now: dt.datetime) -> Outcome:
    """The flags of these windows (locked by the caller), against every report."""
    if not window_ids:
        return Outcome()
    return _apply(_plan(_pairs(window_candidates_sql(window_ids), flags_sql(window_ids))), now)


@transaction.atomic
def flags_check_windows(*, window_ids: Sequence[int], now: dt.datetime) -> Outcome:
    """Reconcile every flag of these windows with every report (a window was saved, cancelled, deleted)."""
    markers = _markers(FlagCheck.Target.WINDOW, window_ids)
    outcome = _check_windows_locked(_lock_windows(window_ids), now)
    FlagCheck.objects.filter(pk__in=markers).delete()
    _announce_on_commit(outcome)
    return outcome


@transaction.atomic
def flags_check_reports(*, report_ids: Sequence[int], now: dt.datetime) -> Outcome:
    """Reconcile every flag of these reports with every window (a report was saved, retracted, deleted)."""
    markers = _markers(FlagCheck.Target.REPORT, report_ids)
    outcome = Outcome()
    if report_ids:
        # Which windows to lock: those the reports overlap now, and those they had a
        # live flag on (to withdraw it). The pairs are read again under the locks.
        sql, params = report_candidates_sql(report_ids, columns="w.id")
        candidates = {row[0] for row in _fetch(sql, params)}
        flagged = Flag.objects.filter(hostility_id__in=report_ids).exclude(status=Flag.Status.WITHDRAWN)
        locked = _lock_windows(candidates | set(flagged.values_list("window_id", flat=True)))
        if locked:
            pairs = _pairs(report_candidates_sql(report_ids, locked), flags_sql(locked, report_ids))
            outcome = _apply(_plan(pairs), now)
    FlagCheck.objects.filter(pk__in=markers).delete()
    _announce_on_commit(outcome)
    return outcome


@dataclass
class Tally:
    """How many flags a long run changed: counts, not the flags, so its memory stays flat."""

    raised: int = 0
    reopened: int = 0
    updated: int = 0
    withdrawn: int = 0

    def add(self, other: Outcome | Tally) -> None:
        if isinstance(other, Outcome):
            other = Tally(len(other.raised), len(other.reopened), len(other.updated), len(other.withdrawn))
        self.raised += other.raised
        self.reopened += other.reopened
        self.updated += other.updated
        self.withdrawn += other.withdrawn

    def __bool__(self) -> bool:
        return bool(self.raised or self.updated or self.withdrawn)


def _check_windows_in_batches(windows: Any, now: dt.datetime, max_batch: int = BATCH_SIZE) -> Tally:
    """
    Check these windows in batches of one transaction each, by keyset pagination. The
    batch size adapts so that a batch holds about PAIR_BUDGET pairs, however dense
    the reports: the memory a reconciliation needs does not grow with their number.
    """
    tally, last, size = Tally(), 0, min(FIRST_BATCH_SIZE, max_batch)
    while True:
        batch = list(windows.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not batch:
            return tally
        outcome = flags_check_windows(window_ids=batch, now=now)
        tally.add(outcome)
        last = batch[-1]
        # Aim the next batch at the budget, growing at most twofold at a time.
        size = max(1, min(max_batch, size * 2, size * PAIR_BUDGET // max(outcome.pairs, 1)))


def flags_check_corridor(*, corridor_id: int, now: dt.datetime) -> Tally:
    """Reconcile every window of a corridor (its path changed, or the site tree around it)."""
    markers = _markers(FlagCheck.Target.CORRIDOR, [corridor_id])
    tally = _check_windows_in_batches(CorridorWindow.objects.filter(corridor_id=corridor_id), now)
    FlagCheck.objects.filter(pk__in=markers).delete()
    return tally


def flags_reconcile_all(*, now: dt.datetime, batch_size: int = BATCH_SIZE) -> Tally:
    """Reconcile every window against every report (the periodic full check, and the benchmark)."""
    return _check_windows_in_batches(CorridorWindow.objects.all(), now, batch_size)


def flags_sweep(*, now: dt.datetime, grace: dt.timedelta) -> Tally:
    """
    Run the checks whose markers are older than `grace`: their task was lost (broker
    down, worker killed, retries exhausted) or is late. Younger markers are left to
    the task queued with them; checking them too would be harmless, only wasted.
    """
    tally = Tally()
    cutoff = now - grace
    while True:
        pending = list(
            FlagCheck.objects.filter(created_at__lte=cutoff)
            .order_by("pk")
            .values_list("target", "target_id")[:BATCH_SIZE]
        )
        if not pending:
            return tally
        by_target: dict[str, set[int]] = defaultdict(set)
        for target, target_id in pending:
            by_target[target].add(target_id)
        log.info(
            "event=flag_sweep reports=%d windows=%d corridors=%d",
            len(by_target[FlagCheck.Target.REPORT]),
            len(by_target[FlagCheck.Target.WINDOW]),
            len(by_target[FlagCheck.Target.CORRIDOR]),
        )
        # Every check below deletes the markers it covered, so the loop moves on.
        report_ids = sorted(by_target[FlagCheck.Target.REPORT])
        for start in range(0, len(report_ids), REPORT_BATCH_SIZE):
            tally.add(flags_check_reports(report_ids=report_ids[start : start + REPORT_BATCH_SIZE], now=now))
        if by_target[FlagCheck.Target.WINDOW]:
            tally.add(flags_check_windows(window_ids=sorted(by_target[FlagCheck.Target.WINDOW]), now=now))
        for corridor_id in sorted(by_target[FlagCheck.Target.CORRIDOR]):
            tally.add(flags_check_corridor(corridor_id=corridor_id, now=now))
