"""
The notification hook: raising and withdrawing a flag sends a Django signal and
writes one structured log line, after the commit that made it so. Later features
(webhooks, the dashboard's live view) connect a receiver instead of touching the
engine. A reopened flag is raised again (`reopened=True`).

    from corridors.signals import flag_raised

    @receiver(flag_raised)
    def tell_someone(sender, flag, reopened, **kwargs): ...
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.dispatch import Signal

if TYPE_CHECKING:
    from corridors.models import Flag

log = logging.getLogger("corridors.flags")

flag_raised = Signal()  # sender=Flag, flag=<Flag>, reopened=<bool>
flag_withdrawn = Signal()  # sender=Flag, flag=<Flag>


def _log_line(event: str, flag: Flag) -> None:
    log.info(
        "event=%s flag=%s window=%s hostility=%s certainty=%s status=%s overlap_start=%s overlap_end=%s",
        event,
        flag.pk,
        flag.window_id,
        flag.hostility_id,
        flag.certainty,
        flag.status,
        flag.overlap_start.isoformat(),
        flag.overlap_end.isoformat(),
    )


def _send(signal: Signal, flag: Flag, **kwargs: object) -> None:
    # A broken receiver must not undo or stop the engine's work: it is logged instead.
    for receiver, result in signal.send_robust(sender=type(flag), flag=flag, **kwargs):
        if isinstance(result, Exception):
            log.error("event=receiver_failed receiver=%r flag=%s", receiver, flag.pk, exc_info=result)


def announce(*, raised: Sequence[Flag], withdrawn: Sequence[Flag], reopened: Sequence[Flag] = ()) -> None:
    """Tell the world, once per flag: a log line and a signal."""
    reopened_ids = {flag.pk for flag in reopened}
    for flag in raised:
        _log_line("flag_raised", flag)
        _send(flag_raised, flag, reopened=flag.pk in reopened_ids)
    for flag in withdrawn:
        _log_line("flag_withdrawn", flag)
        _send(flag_withdrawn, flag)
