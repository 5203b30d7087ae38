"""
Whole data sets (docs/api.md, "Downloads"): every public list in full, as CSV with HXL,
the spatial ones also as GeoJSON, and one XLSX workbook with a sheet per list.

What they say is what the public reads from the lists, made by the same viewsets and
serializers for an anonymous reader: a restricted site's position coarsened, no staff
account. They are made by a Celery task (tracker.tasks.build_downloads, `build` here),
never by a request: every file of the data's current version (each list's row count and
latest `updated_at`, the windows started and ended) is streamed from the database in
chunks to a file in that version's folder (memory stays flat: bench/exports.py), and
the folder is marked complete last. A request serves the latest complete version; when
the data has moved past it, the request queues a build (one per version: a claim in the
cache) and still answers at once from the files it has. Celery beat builds every
DOWNLOADS_REFRESH_INTERVAL seconds, so the files are ready before anyone asks; with
Celery eager (the embedded default) the queued build runs inside the request, as before.
Until a first version is complete, both endpoints answer 503 with Retry-After.

One builder per version at a time: the claim debounces the queueing, and an exclusive
lock on the version folder's `.lock` file (fcntl) keeps two workers of a host from
building the same version (the cache fails open: without Redis every request may queue
a build, and the lock makes the extra ones return at once).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import kombu.exceptions
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet
from django.http import FileResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from corridors.api import views as corridors
from corridors.models import CorridorWindow
from tracker.api import views as tracker
from tracker.api.base import ModelSerializer, ReadViewSet
from tracker.api.renderers import _columns, _lookup, csv_cell
from tracker.logs import warn_throttled

if TYPE_CHECKING:
    from tracker.api.base import ApiRequest

log = logging.getLogger("tracker.downloads")

# The public lists, in the order of the workbook's sheets: (name, viewset, has a GeoJSON layer).
RESOURCES: tuple[tuple[str, type[ReadViewSet], bool], ...] = (
    ("organisations", tracker.OrganisationViewSet, False),
    ("sources", tracker.SourceViewSet, False),
    ("sites", tracker.SiteViewSet, True),
    ("counts", tracker.CivilianCountViewSet, False),
    ("corridors", corridors.CorridorViewSet, True),
    ("windows", corridors.WindowViewSet, False),
    ("hostilities", tracker.HostilityReportViewSet, True),
    ("departures", corridors.DepartureViewSet, False),
    ("arrivals", corridors.ArrivalViewSet, False),
    ("flags", corridors.FlagViewSet, False),
    ("flag-events", corridors.FlagEventViewSet, False),
)
WORKBOOK = "tracker.xlsx"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Objects read from the database at a time: what bounds the memory an export uses.
CHUNK = 2000


@dataclass(frozen=True)
class Download:
    """One file of the listing."""

    name: str
    format: str
    media_type: str
    size: int
    rows: int
    generated_at: str
    sha256: str


def names() -> list[str]:
    """Every download's file name: `counts.csv`, `sites.geojson`, ..., `tracker.xlsx`."""
    found = []
    for name, _viewset, spatial in RESOURCES:
        found.append(f"{name}.csv")
        if spatial:
            found.append(f"{name}.geojson")
    return [*found, WORKBOOK]


def directory() -> Path:
    path = Path(settings.DOWNLOADS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_version(now: dt.datetime) -> str:
    """
    A name for the state of everything the downloads say: each list's row count and
    latest `updated_at`, and how many windows had started and ended at `now` (a window's
    `status` moves with the clock). Two equal versions make the same files.
    """
    parts: list[Any] = []
    for _name, viewset, _spatial in RESOURCES:
        model = viewset.queryset.model  # type: ignore[union-attr]  # each resource's viewset names its queryset
        parts.append(model._default_manager.aggregate(n=Count("pk"), last=Max("updated_at")))
    parts.append(
        CorridorWindow.objects.aggregate(
            started=Count("pk", filter=Q(starts_at__lte=now)), ended=Count("pk", filter=Q(ends_at__lte=now))
        )
    )
    return hashlib.sha256(json.dumps(parts, cls=JSONEncoder, sort_keys=True).encode()).hexdigest()[:16]


class NotReady(Exception):
    """No version of the downloads was ever completed (a fresh deployment): one is being made."""


# Written last in a version's folder, when every file of it is there: {"version", "generated_at"}.
COMPLETE = "complete"
LOCK = ".lock"
# How long a request's claim on building a version holds: other requests queue no build
# for it meanwhile. Beat's periodic build does not look at it (a queued build that was
# lost is made up for at the next interval).
BUILD_CLAIM_SECONDS = 600
# What a client is told to wait when no version is complete yet.
RETRY_AFTER = 60


def latest_complete() -> tuple[str, str] | None:
    """The latest complete version and its `generated_at`, or None if none was ever completed."""
    found: list[tuple[str, str]] = []
    for folder in directory().iterdir():
        try:
            marker = json.loads((folder / COMPLETE).read_text())
        except (OSError, ValueError):
            continue  # not complete (or deleted meanwhile)
        found.append((marker["generated_at"], marker["version"]))
    if not found:
        return None
    generated_at, version = max(found)
    return version, generated_at


def served(*, now: dt.datetime | None = None) -> str:
    """
    The version a request serves: the latest complete one. If the data's current version
    differs, a build of it is queued (at most once per version, BUILD_CLAIM_SECONDS): with
    Celery eager it runs here, and the version served is the current one. NotReady if
    no version was ever completed.
    """
    now = now or timezone.now()
    version = data_version(now)
    latest = latest_complete()
    if latest is None or latest[0] != version:
        request_build(version)
        latest = latest_complete()
    if latest is None:
        raise NotReady
    return latest[0]


def request_build(version: str) -> None:
    """Queue a build of the current version unless one was queued for `version` lately."""
    from tracker import tasks
    from tracker.celery import app

    eager = app.conf.task_always_eager
    # Eager, the build runs here and its lock guards it: no claim (it would outlive the folder in a test).
    if not eager and not cache.add(f"downloads:build:{version}", 1, timeout=BUILD_CLAIM_SECONDS):
        return
    try:
        tasks.build_downloads.delay()
    except Exception as exc:  # a broker that cannot be reached: serve what there is; beat builds later
        if eager and not isinstance(exc, kombu.exceptions.OperationalError):
            raise
        cache.delete(f"downloads:build:{version}")
        warn_throttled(
            log,
            "broker_unavailable",
            "event=broker_unavailable task=tracker.build_downloads error=%s: %s: the downloads served are older",
            type(exc).__name__,
            exc,
        )


def build(*, now: dt.datetime | None = None) -> str | None:
    """
    Make every file of the data's current version and mark the version complete (the
    task tracker.build_downloads). The version's name, or None if another builder holds it.
    """
    now = now or timezone.now()
    version = data_version(now)
    folder = directory() / version
    if (folder / COMPLETE).exists():
        return version
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder) as held:
        if not held:
            return None
        if not (folder / COMPLETE).exists():
            for name in names():
                _ensure(name, version, now)
            _write_atomically(folder / COMPLETE, json.dumps({"version": version, "generated_at": _instant(now)}))
            log.info("event=downloads_built version=%s", version)
    forget_old_versions(keep=version)
    return version


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[bool]:
    """An exclusive lock on the folder's LOCK file, not waited for: whether it was got."""
    with open(folder / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current(*, now: dt.datetime | None = None) -> list[Download]:
    """Every download of the version served (`served`)."""
    version = served(now=now)
    return [_entry(version, name) for name in names()]


def path_of(name: str, *, now: dt.datetime | None = None) -> tuple[Path, Download]:
    """The file of one download of the version served, and its entry."""
    if name not in names():
        raise KeyError(name)
    version = served(now=now)
    return directory() / version / name, _entry(version, name)


def _entry(version: str, name: str) -> Download:
    return Download(**json.loads((directory() / version / f"{name}.json").read_text()))


# How long the files of a version the data has moved past are kept: a download of them
# that has begun goes on regardless (an open file outlives its name), but a client that
# read the listing just before the change can still fetch what it listed.
OLD_VERSION_GRACE = dt.timedelta(minutes=10)


def forget_old_versions(*, keep: str) -> None:
    """
    Delete the folders of other versions last written more than OLD_VERSION_GRACE ago
    (after `keep` is complete: the latest complete version is never deleted), but not
    one that a builder holds.
    """
    import shutil
    import time

    limit = time.time() - OLD_VERSION_GRACE.total_seconds()
    for folder in directory().iterdir():
        if folder.is_dir() and folder.name != keep and folder.stat().st_mtime < limit:
            with _locked(folder) as held:
                if held:
                    shutil.rmtree(folder, ignore_errors=True)


def _instant(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def _ensure(name: str, version: str, now: dt.datetime) -> Download:
    """One file of the version, made unless a build of it interrupted before made it."""
    folder = directory() / version
    meta = folder / f"{name}.json"
    if meta.exists():
        return Download(**json.loads(meta.read_text()))
    # Written aside and renamed into place: a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(handle, "wb") as out:
        rows = write(name, out, now=now)
    digest = hashlib.sha256()
    with open(temporary, "rb") as done:
        for block in iter(lambda: done.read(1 << 20), b""):
            digest.update(block)
    entry = Download(
        name=name,
        format=name.rsplit(".", 1)[1],
        media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]],
        size=os.path.getsize(temporary),
        rows=rows,
        generated_at=_instant(now),
        sha256=digest.hexdigest(),
    )
    os.replace(temporary, folder / name)
    _write_atomically(meta, json.dumps(asdict(entry)))
    return entry


# --- Making the files -------------------------------------------------------------------


def public_view(viewset: type[ReadViewSet], *, now: dt.datetime) -> ReadViewSet:
    """The viewset as it answers an anonymous `GET` of its list: what the public may read."""
    request = cast("ApiRequest", Request(RequestFactory().get("/"), authenticators=[]))
    request.now = now
    view = viewset()
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), {}, None
    view.action = "list"
    return view


def rows_of(view: ReadViewSet, *, chunk: int | None = None) -> Iterator[dict[str, Any]]:
    """Every object of the view's list as its representation, read `chunk` (CHUNK) at a time."""
    chunk = chunk or CHUNK
    queryset: QuerySet[Any] = view.get_queryset()
    serializer = view.get_serializer()
    columns = serializer.plain_columns() if isinstance(serializer, ModelSerializer) else None
    if columns is not None and type(view).prepare is ReadViewSet.prepare:
        # Every field is a column: plain rows, no model instances (ReadViewSet.list).
        for row in queryset.values_list(*columns).iterator(chunk_size=chunk):
            yield cast(ModelSerializer, serializer).represent_row(row)
        return
    batch: list[Any] = []
    for obj in queryset.iterator(chunk_size=chunk):
        batch.append(obj)
        if len(batch) == chunk:
            yield from _represent(view, batch)
            batch = []
    if batch:
        yield from _represent(view, batch)


def _represent(view: ReadViewSet, batch: list[Any]) -> Iterable[dict[str, Any]]:
    view.prepare(batch)
    return view.get_serializer(batch, many=True).data


def write(name: str, out: Any, *, now: dt.datetime) -> int:
    """Write one download to the binary file `out`; the number of rows (objects) it holds."""
    if name == WORKBOOK:
        return _write_workbook(out, now=now)
    resource, extension = name.rsplit(".", 1)
    viewset = next(viewset for found, viewset, _spatial in RESOURCES if found == resource)
    view = public_view(viewset, now=now)
    if extension == "csv":
        return write_csv(view, out)
    return write_geojson(view, out)


def table_header(view: ReadViewSet) -> tuple[list[str], list[str]]:
    """The CSV columns of a view's list and their HXL hashtags (as `?format=csv` gives them)."""
    columns = list(_columns(cast(serializers.Serializer, view.get_serializer())))
    return columns, [view.hxl_tags.get(column, "") for column in columns]


def write_csv(view: ReadViewSet, out: Any, *, hxl: bool = True, fast: bool = True) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text, lineterminator="\r\n")
    columns, tags = table_header(view)
    writer.writerow(columns)
    if hxl:
        writer.writerow(tags)
    copy = copy_statement(view) if fast else None
    if copy is not None:
        # PostgreSQL writes the rows itself (copy_statement): the same cells, several times faster.
        text.flush()
        text.detach()
        return copy_to(copy, out)
    count = 0
    for row in rows_of(view):
        writer.writerow([csv_cell(_lookup(row, column)) for column in columns])
        count += 1
    text.flush()
    text.detach()
    return count


def copy_statement(view: ReadViewSet) -> str | None:
    """
    On PostgreSQL, for a list whose every field is a column (no `prepare`, no computed
    field), a `COPY (SELECT ...) TO STDOUT` that writes the same CSV cells as the Python
    path (rows_of + csv_cell) for the public: instants as the API writes them (UTC, `Z`,
    microseconds only when there are some), booleans as true/false, text that a
    spreadsheet would run as a formula prefixed with `'`, empty text as an empty cell,
    the staff accounts null. Rows end with LF, not CRLF. None where that cannot be said
    in SQL (a float, a filter with parameters, another database): the Python path then.
    """
    from django.db import connection, models

    if connection.vendor != "postgresql" or type(view).prepare is not ReadViewSet.prepare:
        return None
    serializer = view.get_serializer()
    columns = serializer.plain_columns() if isinstance(serializer, ModelSerializer) else None
    if columns is None or not isinstance(serializer, ModelSerializer):
        return None
    queryset = view.get_queryset()
    fields = {field.attname: field for field in queryset.model._meta.concrete_fields}
    quote = connection.ops.quote_name
    names = [name for _kind, name, *_rest in serializer._readers]
    hidden = set(type(serializer).person_fields)  # the public sees no staff account
    risky = "'=', '+', '-', '@', E'\\t', E'\\r'"  # renderers.FORMULA_PREFIXES
    expressions = []
    for name, column in zip(names, columns, strict=True):
        field = fields.get(column)
        if field is None:
            return None
        ref = f"t.{quote(field.column)}"
        if name in hidden:
            expressions.append("NULL")
        elif isinstance(field, models.DateTimeField):
            utc = f"({ref} AT TIME ZONE 'UTC')"
            expressions.append(
                f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                f"extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
                f"ELSE to_char({utc}, '.US') END || 'Z'"
            )
        elif isinstance(field, models.BooleanField):
            expressions.append(f"CASE WHEN {ref} THEN 'true' ELSE 'false' END")
        elif isinstance(field, models.CharField | models.TextField):
            expressions.append(f"NULLIF(CASE WHEN left({ref}, 1) IN ({risky}) THEN '''' || {ref} ELSE {ref} END, '')")
        elif isinstance(field, models.AutoField | models.BigAutoField | models.IntegerField | models.ForeignKey):
            expressions.append(ref)
        else:
            return None
    inner, params = queryset.values_list(*columns).query.sql_with_params()
    if params:
        return None
    ordering = []
    for item in queryset.query.order_by:
        if not isinstance(item, str):
            return None
        found = next((f for f in fields.values() if item.lstrip("-") in (f.name, f.attname)), None)
        if found is None or found.attname not in columns:
            return None
        ordering.append(f"t.{quote(found.column)} {'DESC' if item.startswith('-') else 'ASC'}")
    order = f" ORDER BY {', '.join(ordering)}" if ordering else ""
    # Only column names (quoted) and the ORM's own SQL without parameters: no value of anyone's is in it.
    return f"COPY (SELECT {', '.join(expressions)} FROM ({inner}) AS t{order}) TO STDOUT (FORMAT csv)"  # noqa: S608


def copy_to(statement: str, out: Any) -> int:
    """Run a `COPY ... TO STDOUT` into the binary file `out`; how many rows it wrote."""
    from django.db import connection

    with connection.cursor() as cursor:
        with cursor.cursor.copy(statement) as copy:
            for block in copy:
                out.write(bytes(block))
        return int(cursor.cursor.rowcount)


def write_geojson(view: ReadViewSet, out: Any) -> int:
    """A FeatureCollection written feature by feature, a chunk of rows at a time (features made by the view)."""
    from tracker.api.renderers import GeoJSONRenderer

    make: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = getattr(
        view, "geojson_features", lambda rows: [GeoJSONRenderer.feature(row) for row in rows]
    )
    out.write(b'{"type":"FeatureCollection","features":[')
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal count
        for feature in make(batch):
            out.write((b"," if count else b"") + json.dumps(feature, cls=JSONEncoder, ensure_ascii=False).encode())
            count += 1
        batch.clear()

    for row in rows_of(view):
        batch.append(row)
        if len(batch) == CHUNK:
            flush()
    flush()
    out.write(b"]}")
    return count


def _write_workbook(out: Any, *, now: dt.datetime) -> int:
    """Every list as a sheet of one workbook (openpyxl's write-only mode: rows go to disk as they come)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    total = 0
    for resource, viewset, _spatial in RESOURCES:
        view = public_view(viewset, now=now)
        sheet = book.create_sheet(title=resource[:31])
        columns, tags = table_header(view)
        sheet.append(columns)
        sheet.append(tags)
        for row in rows_of(view):
            sheet.append([_xlsx_cell(_lookup(row, column)) for column in columns])
            total += 1
    book.save(out)
    return total


def _xlsx_cell(value: Any) -> Any:
    # As in CSV: lists joined, text safe from formula injection; numbers stay numbers.
    cell = csv_cell(value)
    return None if cell == "" else cell


# --- The endpoints ----------------------------------------------------------------------


class DownloadSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The file's name: `counts.csv`, `sites.geojson`, `tracker.xlsx`.")
    format = serializers.ChoiceField(choices=["csv", "geojson", "xlsx"])
    media_type = serializers.CharField()
    url = serializers.URLField(help_text="Where to get it: `GET /api/v1/downloads/<name>`.")
    size = serializers.IntegerField(help_text="Bytes.")
    rows = serializers.IntegerField(help_text="Objects it holds (for the workbook: over all its sheets).")
    generated_at = serializers.DateTimeField(help_text="When it was made, from the data as it was then.")
    sha256 = serializers.CharField(help_text="The SHA-256 of the file, in hex.")


class NotYetMade(exceptions.APIException):
    """No version of the downloads is complete yet (a fresh deployment): a build is queued."""

    status_code = 503
    default_detail = _("The downloads are being made for the first time: try again in a minute or two.")
    default_code = "downloads_not_ready"

    def __init__(self) -> None:
        super().__init__()
        self.wait = RETRY_AFTER  # DRF's handler turns it into Retry-After


NOT_READY_RESPONSE = {503: OpenApiResponse(description="No version was made yet; a build is queued: see Retry-After.")}


class DownloadListView(APIView):
    """
    Every public list in full: CSV with HXL (`?hxl=0` is for the lists; these keep
    the row), GeoJSON for sites, corridors and hostility reports, and one XLSX workbook
    with a sheet per list, each with its size, row count, checksum and when it was
    made. What the public reads: a restricted site's position coarsened, no staff account.
    """

    renderer_classes = [JSONRenderer]

    @extend_schema(
        responses={200: DownloadSerializer(many=True), **NOT_READY_RESPONSE},
        summary="The whole data sets, with size, rows and checksum",
    )
    def get(self, request: Request) -> Response:
        try:
            entries = current()
        except NotReady:
            raise NotYetMade from None
        data = [
            {**asdict(entry), "url": request.build_absolute_uri(reverse("api:download", args=[entry.name]))}
            for entry in entries
        ]
        return Response(DownloadSerializer(data, many=True).data)


class DownloadView(APIView):
    """One whole data set, as a file (`Content-Length`, `ETag` the checksum)."""

    renderer_classes = [JSONRenderer]

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **NOT_READY_RESPONSE},
        summary="One whole data set, as a file",
    )
    def get(self, request: Request, name: str) -> Any:
        try:
            path, entry = path_of(name)
        except KeyError:
            raise exceptions.NotFound from None
        except NotReady:
            raise NotYetMade from None
        etag = f'"{entry.sha256}"'
        if etag in [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]:
            return Response(status=304, headers={"ETag": etag})
        response = FileResponse(open(path, "rb"), content_type=entry.media_type, as_attachment=True, filename=name)  # noqa: SIM115
        response["ETag"] = etag
        response["X-Row-Count"] = str(entry.rows)
        response["Last-Modified"] = http_date(dt.datetime.fromisoformat(entry.generated_at).timestamp())
        return response
