"""
"These flags may be stale now": what the write services call, inside their
transaction, for every change that can move a flag: an outbox marker in that
transaction (corridors.models.FlagCheck says why) and the check queued after its commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from corridors import candidates, tasks
from corridors.models import FlagCheck

# The reports a `reports_in_batches()` block has saved so far (None outside one).
_collected: ContextVar[set[int] | None] = ContextVar("recheck_collected", default=None)
# Reports per batched check task: one task's locks and queries stay small.
BATCH_SIZE = 500


def recheck_report(*, report_id: int) -> None:
    collected = _collected.get()
    if collected is not None:
        collected.add(report_id)
        return
    FlagCheck.objects.create(target=FlagCheck.Target.REPORT, target_id=report_id)
    tasks.check_report.delay_on_commit(report_id)


@contextmanager
def reports_in_batches() -> Iterator[None]:
    """
    Within the block, the reports the services save are checked together when it
    ends, a task per BATCH_SIZE reports, instead of a task each: an import of
    thousands of reports queues tens of tasks, and each reconciles the windows of
    its reports at once. Their outbox markers are written at the end of the block,
    in the same transaction; a block that raises writes and queues nothing (its
    transaction is rolled back by the caller).
    """
    collected: set[int] = set()
    token = _collected.set(collected)
    try:
        yield
    finally:
        _collected.reset(token)
    ids = sorted(collected)
    FlagCheck.objects.bulk_create(FlagCheck(target=FlagCheck.Target.REPORT, target_id=pk) for pk in ids)
    for start in range(0, len(ids), BATCH_SIZE):
        tasks.check_reports.delay_on_commit(ids[start : start + BATCH_SIZE])


def recheck_window(*, window_id: int) -> None:
    FlagCheck.objects.create(target=FlagCheck.Target.WINDOW, target_id=window_id)
    tasks.check_window.delay_on_commit(window_id)


def recheck_corridors(*, corridor_ids: Iterable[int]) -> None:
    for corridor_id in sorted(set(corridor_ids)):
        FlagCheck.objects.create(target=FlagCheck.Target.CORRIDOR, target_id=corridor_id)
        tasks.check_corridor.delay_on_commit(corridor_id)


@contextmanager
def site_moves(*, site_id: int, moving: bool) -> Iterator[None]:
    """
    Around a change of a site's parent (`moving`): the corridors a report at the site
    touches in the tree before the block and after it are re-checked when the block
    ends, as the move can raise their flags or withdraw them. Not moving, nothing.
    """
    before = candidates.corridors_touching_site(site_id) if moving else set()
    yield
    if moving:
        recheck_corridors(corridor_ids=before | candidates.corridors_touching_site(site_id))
