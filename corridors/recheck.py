"""
"These flags may be stale now": what the write services call, inside their
transaction, for every change that can move a flag. Each call writes an outbox
marker (FlagCheck) in that transaction and queues the check after its commit, so a
rolled-back change queues nothing and a committed one is never forgotten, even when
the task is lost (corridors/tasks.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from corridors import tasks
from corridors.models import FlagCheck


def recheck_report(*, report_id: int) -> None:
    FlagCheck.objects.create(target=FlagCheck.Target.REPORT, target_id=report_id)
    tasks.check_report.delay_on_commit(report_id)


def recheck_window(*, window_id: int) -> None:
    FlagCheck.objects.create(target=FlagCheck.Target.WINDOW, target_id=window_id)
    tasks.check_window.delay_on_commit(window_id)


def recheck_corridors(*, corridor_ids: Iterable[int]) -> None:
    for corridor_id in sorted(set(corridor_ids)):
        FlagCheck.objects.create(target=FlagCheck.Target.CORRIDOR, target_id=corridor_id)
        tasks.check_corridor.delay_on_commit(corridor_id)
