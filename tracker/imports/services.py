"""
Preview, apply and undo an import (tracker.models.ImportBatch).

Every row goes the way of a single write through the API: the resource's serializer
parses and checks its cells (same types, same messages), then its write service
checks who may do it and the model's rules, and saves it with its history. Preview
and apply run the same code: a preview writes every row in one transaction and rolls
it back, so that it finds every error a write would, rows that conflict with one
another included. Applying is all or nothing unless the batch says "valid rows only";
then each row that fails is rolled back alone (a savepoint per row).

A row with an `id` changes that object; one without finds the object it is about by
the resource's natural key (tracker/imports/resources.py), so that importing the same
file twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from corridors import recheck
from tracker import permissions
from tracker.audit import InUse, changed_fields
from tracker.imports import events, readers
from tracker.imports.columns import Columns, map_columns, writable_fields
from tracker.imports.resources import Resource, resources
from tracker.models import ImportBatch, ImportedRow, Verification

if TYPE_CHECKING:
    from tracker.models import User

Status = ImportBatch.Status
# Export escapes a cell a spreadsheet would run as a formula with a leading apostrophe
# (tracker/api/renderers.py): read back, the apostrophe goes.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TRUE_WORDS = frozenset({"true", "yes", "1", "так", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "ні", "n"})
# Rows between two progress reports (read by the page's progress bar).
PROGRESS_EVERY = 200
# The rows whose outcome a batch keeps one by one (the page's per-row table); the
# counts and the errors cover every row.
ROWS_SHOWN = 500
# What the importer never writes, whatever the file says.
NOT_RESTORED = frozenset({"id", "created_at", "updated_at", "organisation_id", "created_by_id"})


def progress_key(batch_id: int) -> str:
    return f"import-progress:{batch_id}"


# --- Creating a batch -----------------------------------------------------------------


@transaction.atomic
def import_create(
    *,
    user: User,
    file_name: str,
    content: bytes,
    resource: str,
    file_format: str,
    dry_run: bool,
    retract_missing: bool = False,
) -> ImportBatch:
    """
    Record an uploaded file as a batch and queue its preview (or, with `dry_run`
    false, its application) after the commit. Refuses what cannot be imported at all
    (who, what, how large) before anything is kept.
    """
    errors: dict[str, list[str]] = {}
    if resource not in resources():
        errors["resource"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(resources())}]
    if file_format not in readers.FORMATS:
        errors["format"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(readers.FORMATS)}]
    elif file_format in events.DATA_SETS and resource != "hostilities":
        errors["resource"] = [
            _("Conflict-event data (%(format)s) become hostility reports: choose hostilities.")
            % {"format": file_format}
        ]
    if retract_missing and file_format not in events.DATA_SETS:
        errors["retract_missing"] = [
            _("Only a full export of a conflict-event data set (acled, ucdp) retracts the events it no longer holds.")
        ]
    if len(content) > settings.IMPORT_MAX_BYTES:
        errors["file"] = [
            _("The file is larger than %(limit)d bytes: split it into several files.")
            % {"limit": settings.IMPORT_MAX_BYTES}
        ]
    elif not content:
        errors["file"] = [_("The file is empty.")]
    if errors:
        raise ValidationError(errors)
    if not resources()[resource].may_import(user):
        raise PermissionDenied(_("You may not add %(resource)s.") % {"resource": resource})
    batch = ImportBatch.objects.create(
        resource=resource,
        format=file_format,
        file_name=file_name[:255],
        checksum=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
        language=translation.get_language() or settings.LANGUAGE_CODE,
        organisation=getattr(user, "organisation", None),
        created_by=user,
        retract_missing=retract_missing,
    )
    _queue(batch, apply=not dry_run)
    return batch


def _queue(batch: ImportBatch, *, apply: bool) -> None:
    from tracker import tasks

    transaction.on_commit(lambda: tasks.run_import.delay(batch.pk, apply))


@transaction.atomic
def import_apply(*, batch: ImportBatch, user: User, valid_only: bool = False) -> ImportBatch:
    """Queue the application of a previewed batch; with errors, only when told to apply the valid rows only."""
    _may_act(batch, user)
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status != Status.PREVIEWED:
        raise ValidationError(
            {
                "status": [
                    _("Only a previewed import can be applied; this one is %(status)s.") % {"status": batch.status}
                ]
            }
        )
    if batch.errors and not valid_only:
        raise ValidationError(
            {
                "valid_only": [
                    _(
                        "The preview found errors: correct the file and import it again, or apply the valid rows "
                        "only (valid_only)."
                    )
                ]
            }
        )
    batch.valid_only = valid_only
    batch.status = Status.QUEUED
    batch.save(update_fields=["valid_only", "status", "updated_at"])
    _queue(batch, apply=True)
    return batch


def _may_act(batch: ImportBatch, user: User) -> None:
    if batch.created_by_id != user.pk and not permissions.is_coordinator(user):
        raise PermissionDenied(_("Only the person who imported a file, or a coordinator, may apply or undo it."))


# --- Running a batch ------------------------------------------------------------------


@dataclass
class Outcome:
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    retracted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


class RowError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def import_run(*, batch_id: int, apply: bool) -> ImportBatch | None:
    """
    Preview (`apply` false) or apply a queued batch. Runs once: a batch another worker
    is running (its row is locked for the run) or has finished is left alone.
    """
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status not in (Status.QUEUED, Status.RUNNING):
        return None
    # Seen by the page's polling while the run's own transaction is still open: the
    # status, and how many rows there are (a first, quick pass over the file).
    ImportBatch.objects.filter(pk=batch_id, status=Status.QUEUED).update(status=Status.RUNNING)
    cache.set(progress_key(batch_id), 0, timeout=24 * 3600)
    ImportBatch.objects.filter(pk=batch_id, status=Status.RUNNING).update(rows_total=_count_rows(batch))
    with translation.override(batch.language):
        with transaction.atomic():
            # Locked for the run: a task handed out twice (acks_late after a lost
            # worker) does not run the same file twice at the same time.
            locked = ImportBatch.objects.select_for_update(skip_locked=True).filter(pk=batch_id).first()
            if locked is None or locked.status != Status.RUNNING:
                return None
            outcome = _run(locked, apply=apply)
            unreadable = any(error["row"] is None for error in outcome.errors)
            keep = apply and not unreadable and (not outcome.errors or locked.valid_only)
            if keep:
                _finish(locked, outcome, Status.APPLIED)
            else:
                transaction.set_rollback(True)
        if not keep:
            if apply:  # all or nothing: nothing was
                outcome.created = outcome.updated = outcome.unchanged = outcome.retracted = 0
                outcome.rows = [row for row in outcome.rows if row["action"] == "error"]
            _finish(locked, outcome, Status.FAILED if apply or unreadable else Status.PREVIEWED)
    cache.delete(progress_key(batch_id))
    return locked


def _finish(batch: ImportBatch, outcome: Outcome, status: str) -> None:
    batch.status = status
    batch.rows_total = batch.rows_done = outcome.rows_total
    batch.created, batch.updated, batch.unchanged = outcome.created, outcome.updated, outcome.unchanged
    batch.retracted = outcome.retracted
    batch.errors = outcome.errors
    batch.ignored_columns = outcome.ignored
    batch.row_outcomes = outcome.rows
    if status == Status.APPLIED:
        batch.applied_at = timezone.now()
    batch.save()


def _run(batch: ImportBatch, *, apply: bool) -> Outcome:
    outcome = Outcome()
    resource = resources()[batch.resource]
    user = batch.created_by
    try:
        table = readers.read_table(bytes(batch.content), kind=_kind(batch), max_rows=settings.IMPORT_MAX_ROWS)
        scope = Scope()
        if batch.format in events.DATA_SETS:
            rows = _event_rows(table, batch.format, user=user, scope=scope)
        else:
            if batch.format == "hxl" and table.tags is None:
                raise readers.FileError(_("The file has no row of HXL hashtags under its header."))
            columns = map_columns(table, resource)
            outcome.ignored = columns.ignored
            rows = _table_rows(table, columns, resource)
        writer = _Writer(resource=resource, user=user, batch=batch)
        with recheck.reports_in_batches():
            _write_rows(rows, writer, outcome, batch_id=batch.pk)
            if batch.retract_missing and batch.format in events.DATA_SETS:
                outcome.retracted = writer.retract_missing(batch.format, scope)
        writer.flush()
    except readers.FileError as exc:
        # The file as a whole: what its rows said before the reading stopped is beside the point.
        outcome.errors = [{"row": None, "column": None, "field": None, "message": str(exc)}]
        outcome.rows = []
    return outcome


def _write_rows(rows: Iterator[Row | RowError], writer: _Writer, outcome: Outcome, *, batch_id: int) -> None:
    for row in rows:
        outcome.rows_total += 1
        shown = len(outcome.rows) < ROWS_SHOWN
        try:
            if isinstance(row, RowError):
                raise row
            # No savepoint of its own: the write service's (transaction.atomic, nested
            # here) is the row's, and a refused row has written nothing outside it.
            written = writer.write(row, describe=shown)
        except RowError as exc:
            outcome.errors.extend(exc.errors)
            if shown:
                errors = [{"column": error["column"], "message": error["message"]} for error in exc.errors]
                outcome.rows.append({"row": exc.errors[0]["row"], "action": "error", "errors": errors})
        else:
            setattr(outcome, written.action, getattr(outcome, written.action) + 1)
            if shown:
                outcome.rows.append(
                    {"row": row.number, "action": written.action, "what": written.what, "changes": written.changes}
                )
        if outcome.rows_total % PROGRESS_EVERY == 0:
            cache.set(progress_key(batch_id), outcome.rows_total, timeout=24 * 3600)


def _count_rows(batch: ImportBatch) -> int:
    try:
        table = readers.read_table(bytes(batch.content), kind=_kind(batch), max_rows=settings.IMPORT_MAX_ROWS)
        return sum(1 for _row in table.rows)
    except readers.FileError:
        return 0  # said, with its reason, by the run itself


def import_batches_for(user: User) -> models.QuerySet[ImportBatch]:
    """The imports `user` may see: a coordinator every one, anyone else their organisation's (or their own)."""
    batches = ImportBatch.objects.defer("content").order_by("-created_at", "-id")
    if permissions.is_coordinator(user):
        return batches
    if user.organisation_id:
        return batches.filter(organisation_id=user.organisation_id)
    return batches.filter(created_by=user)


def import_flagged_windows(batch: ImportBatch) -> int | None:
    """How many corridor windows the reports an import wrote have live flags on (None but for applied reports)."""
    from corridors.models import Flag

    if batch.resource != "hostilities" or batch.status not in (Status.APPLIED, Status.UNDONE):
        return None
    reports = ImportedRow.objects.filter(batch=batch).values("object_id")
    return (
        Flag.objects.filter(hostility_id__in=reports, status__in=Flag.ACTIVE_STATUSES)
        .values("window_id")
        .distinct()
        .count()
    )


def import_progress(batch: ImportBatch) -> int:
    """How many rows a running import has checked so far."""
    if batch.status == Status.RUNNING:
        return int(cache.get(progress_key(batch.pk)) or 0)
    return batch.rows_done


def _kind(batch: ImportBatch) -> str:
    if batch.format in ("csv", "xlsx", "ods"):
        return batch.format
    return readers.detect_format(bytes(batch.content))


@dataclass
class Row:
    number: int
    # The row as the API would receive it in JSON.
    data: dict[str, Any]
    # Field → the title of the file's column that gives it, as errors name it.
    titles: dict[str, str]
    # A stable key (a data set's event id) that finds the object again in a later import.
    key: str = ""


def _table_rows(table: readers.Table, columns: Columns, resource: Resource) -> Iterator[Row]:
    fields = writable_fields(resource)
    for number, cells in table.rows:
        data = {}
        for index, name in columns.fields.items():
            present, parsed = cell_value(cells[index] if index < len(cells) else None, fields[name])
            if present:
                data[name] = parsed
        yield Row(number, data, columns.titles)


@dataclass
class Scope:
    """What a data set's file holds: its events' keys (refused ones too) and the span of their dates."""

    keys: set[str] = field(default_factory=set)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    last_row: int = 0

    def add(self, key: str, started_at: str | None) -> None:
        self.keys.add(key)
        if started_at:
            start = dt.datetime.fromisoformat(started_at)
            self.first = start if self.first is None else min(self.first, start)
            self.last = start if self.last is None else max(self.last, start)


def _event_rows(table: readers.Table, data_set: str, *, user: User, scope: Scope) -> Iterator[Row | RowError]:
    name, url, required, translate = events.DATA_SETS[data_set]
    titles = [title.strip().lower() for title in table.titles]
    events.check_columns(titles, required, name)
    source = events.data_source(name=name, url=url, user=user, save=resources()["sources"].save)
    sites = events.SiteFinder(user=user, radius_km=events.radius_km(), data_set=data_set)
    now = timezone.now()
    for number, cells in table.rows:
        record = {title: cells[index] if index < len(cells) else None for index, title in enumerate(titles)}
        scope.last_row = number
        try:
            event = translate(record, sites=sites, source=source, now=now)
        except events.EventError as exc:
            # Still in the data set: a refused event is not one to retract.
            scope.add(events.key_of(data_set, record), None)
            yield RowError([{"row": number, "column": exc.column, "field": None, "message": exc.message}])
            continue
        scope.add(event.key, event.data["started_at"])
        yield Row(number, event.data, event.titles, event.key)


class _Writer:
    """Checks and writes rows through the resource's serializer and service, keeping the record of each."""

    def __init__(self, *, resource: Resource, user: User, batch: ImportBatch) -> None:
        self.resource, self.user, self.batch = resource, user, batch
        self.content_type = ContentType.objects.get_for_model(resource.model)
        self.records: list[ImportedRow] = []
        # Key → object id, for the keys earlier imports and this file have written
        # (read once, at the first row with a key, instead of a query a row).
        self.keys: dict[str, int] | None = None
        # The serializer's related objects by id (sites, sources), read once per import.
        self.related: dict[str, _Remembered] = {}

    def flush(self) -> None:
        ImportedRow.objects.bulk_create(self.records)
        self.records = []

    def write(self, row: Row, *, describe: bool = False) -> Written:
        """What the row did: created, updated or unchanged (and, with `describe`, to what and which fields)."""
        resource, number, titles = self.resource, row.number, row.titles
        data = dict(row.data)
        instance = _existing(resource, data, titles, number) or self._by_key(row.key)
        serializer = resource.serializer(instance, data=data, partial=instance is not None)
        self._remember_related(serializer)
        if not serializer.is_valid():
            raise RowError(_row_errors(number, serializer.errors, titles))
        values = dict(serializer.validated_data)
        if instance is None:
            instance = _by_natural_key(resource, values, user=self.user)
        model = resource.model
        if instance is None:
            instance = model(**{k: v for k, v in values.items() if not model._meta.get_field(k).many_to_many})
            before, changes = None, set()
        else:
            before = _snapshot(instance)
            for name, value in values.items():
                setattr(instance, name, value)
            changes = changed_fields(instance)
            if not changes:
                return Written("unchanged", _describe(resource, instance) if describe else "")
        instance._change_reason = _("Import #%(id)d, row %(row)d") % {"id": self.batch.pk, "row": number}
        try:
            resource.save(instance, self.user)
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
            raise RowError(_row_errors(number, detail, titles)) from None
        except PermissionDenied as exc:
            raise RowError([_error(number, None, titles, str(exc))]) from None
        action = ImportedRow.Action.CREATED if before is None else ImportedRow.Action.UPDATED
        self.records.append(
            ImportedRow(
                batch=self.batch,
                row=number,
                action=action,
                content_type=self.content_type,
                object_id=instance.pk,
                key=row.key,
                before=before,
            )
        )
        if row.key and self.keys is not None:
            self.keys[row.key] = instance.pk
        if len(self.records) >= 1000:
            self.flush()
        if not describe:
            return Written(str(action))
        changed = [] if before is None else [_field_title(model, name) for name in sorted(changes)]
        return Written(str(action), _describe(resource, instance), changed)

    def retract_missing(self, data_set: str, scope: Scope) -> int:
        """
        Retract the reports that earlier imports of this data set wrote for events of
        the file's period (its first to its last event's start) that the file no
        longer holds: the data set deleted them. Only the importer's organisation's;
        each is recorded, so undoing the import restores it. How many.
        """
        if scope.first is None or scope.last is None:
            return 0
        prefix = events.key_of(data_set, {})
        known: dict[int, str] = {}
        for key, pk in (
            ImportedRow.objects.filter(content_type=self.content_type, key__startswith=prefix)
            .values_list("key", "object_id")
            .iterator()
        ):
            if key not in scope.keys:
                known[pk] = key
        reports: models.QuerySet[Any] = (
            self.resource.model._default_manager.filter(
                pk__in=list(known),
                organisation=getattr(self.user, "organisation", None),
                started_at__gte=scope.first,
                started_at__lte=scope.last,
            )
            .exclude(verification=Verification.RETRACTED)
            .order_by("pk")
        )
        retracted = 0
        for number, report in enumerate(reports, start=scope.last_row + 1):
            before = _snapshot(report)
            report.verification = Verification.RETRACTED
            report._change_reason = _("Import #%(id)d: no longer in the data set") % {"id": self.batch.pk}
            self.resource.save(report, self.user)
            self.records.append(
                ImportedRow(
                    batch=self.batch,
                    row=number,
                    action=ImportedRow.Action.UPDATED,
                    content_type=self.content_type,
                    object_id=report.pk,
                    key=known[report.pk],
                    before=before,
                )
            )
            retracted += 1
        return retracted

    def _by_key(self, key: str) -> Any:
        """The object an earlier row or import with this key wrote (None for a new key)."""
        if not key:
            return None
        if self.keys is None:
            # Newest last, so that the newest record of a key is the one kept.
            records = ImportedRow.objects.filter(content_type=self.content_type).exclude(key="").order_by("id")
            self.keys = dict(records.values_list("key", "object_id").iterator(chunk_size=10_000))
        pk = self.keys.get(key)
        return self.resource.model._default_manager.filter(pk=pk).first() if pk is not None else None

    def _remember_related(self, serializer: serializers.ModelSerializer) -> None:
        """Each related field's look-up by id answered once per import (the same query, the same errors)."""
        for name, serializer_field in serializer.fields.items():
            if isinstance(serializer_field, serializers.PrimaryKeyRelatedField) and not serializer_field.read_only:
                if name not in self.related:
                    self.related[name] = _Remembered(cast("models.QuerySet[Any]", serializer_field.get_queryset()))
                # Duck-typed: the field only calls its queryset's get(pk=...).
                serializer_field.queryset = self.related[name]  # type: ignore[assignment,arg-type]  # see above


class _Remembered:
    """A related field's queryset whose `get(pk=...)` answers each id found once; an id not found is asked again."""

    def __init__(self, queryset: models.QuerySet[Any]) -> None:
        self.queryset = queryset
        self.found: dict[tuple[type, Any], Any] = {}

    def get(self, *, pk: Any) -> Any:
        key = (type(pk), pk)
        if key not in self.found:
            self.found[key] = self.queryset.get(pk=pk)
        return self.found[key]

    def all(self) -> models.QuerySet[Any]:
        return self.queryset.all()


@dataclass
class Written:
    action: str
    # The object as the per-row table names it, and the fields an update changed.
    what: str = ""
    changes: list[str] = field(default_factory=list)


def _describe(resource: Resource, instance: Any) -> str:
    """An object by its natural key, in the active language: "site: Mariupol; kind: Shelling; ..."."""
    parts = []
    for name in resource.natural_key:
        model_field = instance._meta.get_field(name)
        value = getattr(instance, name)
        if value is None or value == "":
            continue
        if model_field.choices:
            value = getattr(instance, f"get_{name}_display")()
        elif isinstance(value, dt.datetime):
            value = formats.localize(timezone.localtime(value))
        parts.append(f"{model_field.verbose_name}: {value}")
    return "; ".join(parts)


def _field_title(model: type[models.Model], name: str) -> str:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    return str(getattr(model_field, "verbose_name", name))


def _existing(resource: Resource, data: dict[str, Any], titles: dict[str, str], number: int) -> Any:
    """The object a row's `id` names (None when the row has none)."""
    if data.get("id") in (None, ""):
        data.pop("id", None)
        return None
    pk = data.pop("id")
    found = resource.model._default_manager.filter(pk=pk).first() if isinstance(pk, int) and 0 < pk < 2**63 else None
    if found is None:
        raise RowError(
            [
                _error(
                    number,
                    "id",
                    titles,
                    _("There is no %(what)s with id %(id)s.") % {"what": resource.model._meta.verbose_name, "id": pk},
                )
            ]
        )
    return found


def _by_natural_key(resource: Resource, values: dict[str, Any], *, user: User) -> Any:
    if not all(name in values for name in resource.natural_key):
        return None
    lookup = {name: values[name] for name in resource.natural_key}
    objects = resource.model._default_manager.filter(**lookup)
    if resource.is_figure:
        objects = objects.filter(organisation=getattr(user, "organisation", None))
    return objects.order_by("pk").first()


def cell_value(value: Any, field: serializers.Field) -> tuple[bool, Any]:
    """
    A cell as the API would receive the same value in JSON: (whether the row gives
    the field, the value). An empty cell clears a field that may be empty and leaves
    any other to its default. A cell that cannot be read as the field's type goes to
    the serializer as it is, which refuses it with the API's own message.
    """
    if isinstance(value, str):
        value = value.strip()
        if value[:1] == "'" and value[1:2] and value[1:2] in FORMULA_PREFIXES:
            value = value[1:]
    if value is None or value == "":
        if field.allow_null:
            return True, None
        if isinstance(field, serializers.CharField) and field.allow_blank:
            return True, ""
        return False, None
    if isinstance(field, serializers.BooleanField):
        word = str(value).strip().lower()
        return True, True if word in TRUE_WORDS else False if word in FALSE_WORDS else value
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        return True, _integer(value)
    if isinstance(field, serializers.FloatField):
        return True, _number(value)
    if isinstance(field, serializers.DateTimeField):
        # A spreadsheet's date cell has no zone: as text it is refused as naive, as in the API.
        return True, value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)
    if isinstance(field, serializers.ListField | serializers.ManyRelatedField):
        return True, [_integer(part.strip()) for part in str(value).split(";") if part.strip()]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return True, str(value)


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    return int(text) if text.lstrip("-").isdigit() else value


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # a decimal comma, as Ukrainian spreadsheets write it
    try:
        return float(text)
    except ValueError:
        return value


def _row_errors(number: int, detail: Any, titles: dict[str, str]) -> list[dict[str, Any]]:
    errors = []
    for name, messages in dict(detail).items():
        name = api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name
        for message in messages if isinstance(messages, list) else [messages]:
            errors.append(_error(number, name, titles, str(message)))
    return errors


def _error(number: int, name: str | None, titles: dict[str, str], message: str) -> dict[str, Any]:
    if name is None or name == api_settings.NON_FIELD_ERRORS_KEY:
        return {"row": number, "column": None, "field": None, "message": message}
    return {"row": number, "column": titles.get(name, name), "field": name, "message": message}


def _snapshot(instance: models.Model) -> dict[str, Any]:
    """The stored values of an object's columns, as JSON, that undoing an update writes back."""
    values = {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


# --- Undoing ------------------------------------------------------------------------


@transaction.atomic
def import_undo(*, batch: ImportBatch, user: User) -> ImportBatch:
    """
    Undo an applied import, newest row first, through the services: what it created
    is deleted (or retracted, when other records refer to it: a report that raised
    flags), what it changed gets its earlier values back. All or nothing.
    """
    _may_act(batch, user)
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status != Status.APPLIED:
        raise ValidationError(
            {"status": [_("Only an applied import can be undone; this one is %(status)s.") % {"status": batch.status}]}
        )
    resource = resources()[batch.resource]
    with recheck.reports_in_batches():
        _undo_rows(batch, resource, user)
    batch.status = Status.UNDONE
    batch.undone_at = timezone.now()
    batch.save(update_fields=["status", "undone_at", "updated_at"])
    return batch


def _undo_rows(batch: ImportBatch, resource: Resource, user: User) -> None:
    for record in _records(batch):
        obj: Any = resource.model._default_manager.filter(pk=record.object_id).first()
        if obj is None:
            continue  # deleted since: nothing left to undo
        if record.action == ImportedRow.Action.CREATED:
            _undo_created(resource, obj, user)
        else:
            _restore(obj, record.before or {})
            obj._change_reason = _("Undoing import #%(id)d") % {"id": batch.pk}
            resource.save(obj, user)


def _records(batch: ImportBatch) -> Iterator[ImportedRow]:
    return batch.rows.order_by("-row").iterator(chunk_size=2000)


def _undo_created(resource: Resource, obj: Any, user: User) -> None:
    try:
        with transaction.atomic():
            resource.delete(obj, user)
    except InUse:
        if not resource.is_figure:
            raise
        obj.verification = Verification.RETRACTED
        resource.save(obj, user)


def _restore(obj: models.Model, before: dict[str, Any]) -> None:
    for f in obj._meta.concrete_fields:
        if f.attname in before and f.attname not in NOT_RESTORED:
            setattr(obj, f.attname, f.to_python(before[f.attname]))
