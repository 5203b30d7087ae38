"""
The audit kit both apps' services write through: what changed against the stored row,
a save that validates with the model's rules and records who made it in the history,
a delete that says what still refers to the object, and a shared row lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import connection, models
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from tracker.models import User

M = TypeVar("M", bound=models.Model)


def changed_fields(instance: models.Model, *, lock: bool = False) -> set[str]:
    """
    Names of the concrete fields whose value differs from the stored row (all of them
    for a new one). With `lock`, the row is locked until the end of the transaction,
    so that what is decided from the difference still holds when it is written.
    """
    return stored_difference(instance, lock=lock)[0]


def stored_difference(instance: models.Model, *, lock: bool = False) -> tuple[set[str], dict[str, Any] | None]:
    """The changed fields, and the stored row's values by attribute name (None for a new object)."""
    fields = [f for f in instance._meta.concrete_fields if not f.primary_key]
    if instance._state.adding or instance.pk is None:
        return {f.name for f in fields}, None
    rows = type(instance)._default_manager.filter(pk=instance.pk)
    if lock:
        # FOR NO KEY UPDATE, as the UPDATE itself: it lets the flag engine key-share
        # a report it is raising a flag for (corridors/flagging.py) without waiting.
        rows = rows.select_for_update(no_key=True)
    stored = rows.values(*(f.attname for f in fields)).first()
    if stored is None:
        return {f.name for f in fields}, None
    return {f.name for f in fields if getattr(instance, f.attname) != stored[f.attname]}, stored


def audited_save(instance: M, *, user: User | None) -> M:
    """Validate with the model's rules and save, recording `user` in the audit history."""
    instance.full_clean()
    instance._history_user = user  # type: ignore[attr-defined]
    instance.save()
    return instance


class InUse(PermissionDenied):
    """An object other records refer to cannot be deleted (by anyone): retract, cancel or deactivate it instead."""


def audited_delete(instance: models.Model, *, user: User | None) -> None:
    instance._history_user = user  # type: ignore[attr-defined]
    try:
        instance.delete()
    except models.ProtectedError as exc:
        raise InUse(
            _("%(object)s is referred to by other records and cannot be deleted: %(what)s.")
            % {
                "object": instance,
                "what": ", ".join(sorted({str(o._meta.verbose_name) for o in exc.protected_objects})),
            }
        ) from None


def lock_row_shared(model: type[models.Model], pk: int) -> None:
    """
    Share-lock one row until the end of the transaction (FOR SHARE, which Django's
    select_for_update does not offer): whoever reads it to decide a write holds off
    its changes, not the other readers. (SQLite runs one write transaction at a time.)
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR SHARE", [pk])  # noqa: S608 - a model's table
