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
3. Read the candidate pairs (corridors/candidates.py; space: the corridor's path and
   the site tree; time: the stored coverage range, by index) beside the existing
   flags of the scope, in one streamed query, and decide each row with the overlap
   rule as it comes.
4. Write only the difference, with its audit history; delete the markers read in 1.

A check computes from the state it reads after taking its locks, so a stale check
that runs late writes the same thing as a fresh one: running any of it twice, or
the sweep after a task, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from corridors import alerts, events, signals
from corridors.candidates import (
    NO_PAIR,
    REPORTS,
    aware,
    fetch,
    flags_sql,
    ids_in,
    pairs_with_flags,
    postgres,
    report_candidates_sql,
    window_candidates_sql,
)
from corridors.models import CorridorWindow, Flag, FlagCheck
from corridors.overlap import Overlap, WindowTimes, overlap_of_coverage, stored_coverage
from tracker import pagecache
from tracker.sync import sync_touch

if TYPE_CHECKING:
    from tracker.coverage import Coverage

log = logging.getLogger("corridors.flags")

# Windows per transaction in the sweep: bounds the memory and the time locks are held.
BATCH_SIZE = 500
# Reports per check in the sweep: each may touch many windows, all locked at once.
REPORT_BATCH_SIZE = 50
# Candidate pairs plus existing flags one reconciliation batch aims to go through. It
# keeps the windows, the reports and the changes it read, not the rows.
PAIR_BUDGET = 10_000
FIRST_BATCH_SIZE = 50


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
    Decide each row of pairs_with_flags() with the overlap rule (the query only narrows the
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
                window = windows[w_id] = WindowTimes(aware(w_start), aware(w_end))  # type: ignore[arg-type]
            report = reports.get(r_id)
            if report is None:
                # Retracted reports are not among the candidates: the query leaves them out.
                report = reports[r_id] = stored_coverage(
                    aware(coverage_start),  # type: ignore[arg-type]  # a candidate's coverage starts
                    aware(coverage_end),
                    ended_at=ended_at,
                    ongoing=ongoing,
                    precision=precision,
                )
            found = overlap_of_coverage(window, *report)
        if pk is None:
            if found is not None:
                plan.new.append((w_id, r_id, found))
        elif found is None:
            if status != withdrawn:
                plan.changes[pk] = ("withdraw", None)
        elif status == withdrawn:
            plan.changes[pk] = ("reopen", found)
        elif (aware(overlap_start), aware(overlap_end), level) != found:
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
    lock = " FOR KEY SHARE" if postgres() else ""
    in_ids, params = ids_in(ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {REPORTS} WHERE id {in_ids} ORDER BY id{lock}", params)  # noqa: S608
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


def _check_windows_locked(window_ids: list[int], now: dt.datetime) -> Outcome:
    """The flags of these windows (locked by the caller), against every report."""
    if not window_ids:
        return Outcome()
    return _apply(_plan(pairs_with_flags(window_candidates_sql(window_ids), flags_sql(window_ids))), now)


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
        candidates = {row[0] for row in fetch(sql, params)}
        flagged = Flag.objects.filter(hostility_id__in=report_ids).exclude(status=Flag.Status.WITHDRAWN)
        locked = _lock_windows(candidates | set(flagged.values_list("window_id", flat=True)))
        if locked:
            pairs = pairs_with_flags(report_candidates_sql(report_ids, locked), flags_sql(locked, report_ids))
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
