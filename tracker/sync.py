"""
What incremental sync (docs/api.md, "Incremental sync") needs beyond `auto_now`: rows
whose representation shows what changed in other rows get their `updated_at` moved too.
Called by the services and the flag engine, in their transactions.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models.functions import Greatest
from django.utils import timezone


def sync_touch(*, model: type[models.Model], ids: Iterable[int | None]) -> None:
    """
    Move the `updated_at` of these rows to now, in the caller's transaction: their
    representation shows what changed in other rows (a window's `departed`, `open_flags`),
    and a client syncing with `updated_since` must be given them again.

    One UPDATE of the one column, not a read-modify-write of the row, so no concurrent
    change is overwritten; never backwards (GREATEST). The time is read here, after the
    caller has taken the rows' locks: of two writers of one row, the second one's
    stamp is the later.
    """
    pks = sorted({pk for pk in ids if pk is not None})
    if pks:
        now = models.Value(timezone.now(), output_field=models.DateTimeField())
        model._default_manager.filter(pk__in=pks).update(updated_at=Greatest("updated_at", now))
