"""
Run the flag engine by hand: the sweep of pending checks (what celery beat runs), or
with --all a full reconciliation of every window against every report.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from corridors import flagging


class Command(BaseCommand):
    help = "Run the pending flag checks now, or with --all reconcile every window's flags."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Reconcile every window, not only pending checks.")

    def handle(self, *args: Any, **options: Any) -> None:
        started, now = time.monotonic(), timezone.now()
        if options["all"]:
            tally = flagging.flags_reconcile_all(now=now)
        else:
            tally = flagging.flags_sweep(now=now, grace=dt.timedelta(seconds=settings.FLAG_SWEEP_GRACE))
        self.stdout.write(
            f"{tally.raised} raised ({tally.reopened} reopened), {tally.updated} updated, "
            f"{tally.withdrawn} withdrawn in {time.monotonic() - started:.1f} s."
        )
