"""
Who may call the API, how lists are cut into pages and how `?format=` is read: the
conventions the REST framework reads from settings when it is first imported (so this
module imports nothing of ours that imports the framework's views; see
settings.REST_FRAMEWORK).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlencode

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, negotiation, pagination, permissions
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from tracker import permissions as roles

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rest_framework.request import Request


# --- Permissions ------------------------------------------------------------------


class RolePermission(permissions.BasePermission):
    """
    Reads: whatever the view's `may_read` allows (public by default). Writes: a
    logged-in member of staff (401 without credentials), then the view's
    `may_create` for a new object and `may_change` / `may_delete` for an existing
    one, which ask tracker/permissions.py. The services check again.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return view.may_read(request.user) if hasattr(view, "may_read") else True
        if not roles.is_staff_member(request.user) or not hasattr(view, "may_create"):
            return False
        if not view.detail:
            return view.may_create(request.user)
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if request.method == "DELETE":
            return view.may_delete(request.user, obj)
        return view.may_change(request.user, obj)


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """`?format=` names one of the view's formats; any other is a 400, as an unknown choice value is (docs/api.md)."""

    def filter_renderers(self, renderers: Iterable[Any], format: str) -> list[Any]:
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            formats = ", ".join(dict.fromkeys(renderer.format for renderer in renderers))
            raise exceptions.ValidationError({"format": [_("Give one of: %(formats)s.") % {"formats": formats}]})
        return matching


# The order of a list asked with `updated_since` (tracker/api/base.py, FilterSet): a
# total order, the id breaking ties of `updated_at`, read along one index per table
# (tracker/models.py, `sync_index`).
SYNC_ORDER = ("updated_at", "id")


class Pagination(pagination.PageNumberPagination):
    """
    `?page=K&page_size=N`, N up to 500; a `page_size` outside 1..500 is a 400, not silently changed.

    A list in the sync order (asked with `updated_since`) links its pages with a keyset
    cursor instead (`?cursor=`, opaque): the position (updated_at, id) of a page's last
    row, and the next page is the rows after it. With offsets, a row already given that
    moves to the end (it was changed) or leaves (it was deleted) shifts the later pages
    by one, and the row that slides onto the page already read is never given. As DRF's
    CursorPagination, but the position is unique (the id breaks ties of `updated_at`), so
    it needs no offset among equal timestamps. `count` stays the number of rows the
    filters match.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_param = "cursor"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [_("Give a whole number from 1 to %(max)d.") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        # Positions of the rows before and after the page, when there are any: (previous, next).
        self.keyset: tuple[Position | None, Position | None] | None = None
        cursor = request.query_params.get(self.cursor_query_param)
        if not (isinstance(queryset, QuerySet) and tuple(queryset.query.order_by) == SYNC_ORDER):
            if cursor is not None:
                raise exceptions.ValidationError(
                    {self.cursor_query_param: [_("A cursor pages only a list asked with updated_since.")]}
                )
            return super().paginate_queryset(queryset, request, view)
        if cursor is None:
            # The first page, or one a client numbered: its links are cursors.
            rows = super().paginate_queryset(queryset, request, view) or []
            if rows and self.page is not None:
                self.keyset = (
                    _position(queryset, rows[0]) if self.page.has_previous() else None,
                    _position(queryset, rows[-1]) if self.page.has_next() else None,
                )
            return rows
        self.request = request
        size = self.get_page_size(request)
        (updated_at, pk), backwards = _decode(cursor)
        self.count = queryset.count()
        if backwards:
            before = Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=pk)
            rows = list(queryset.filter(before, updated_at__lte=updated_at).reverse()[: size + 1])
            more, rows = len(rows) > size, rows[:size][::-1]
            self.keyset = (
                _position(queryset, rows[0]) if more else None,
                _position(queryset, rows[-1]) if rows else None,
            )
        else:
            # `updated_at >=`, implied by the rest, bounds the scan of the index on (updated_at, id).
            after = Q(updated_at__gt=updated_at) | Q(updated_at=updated_at, id__gt=pk)
            rows = list(queryset.filter(after, updated_at__gte=updated_at)[: size + 1])
            more, rows = len(rows) > size, rows[:size]
            self.keyset = (
                _position(queryset, rows[0]) if rows else None,
                _position(queryset, rows[-1]) if more else None,
            )
        return rows

    def get_next_link(self) -> str | None:
        if self.keyset is None:
            return super().get_next_link()
        return self._link(self.keyset[1], backwards=False)

    def get_previous_link(self) -> str | None:
        if self.keyset is None:
            return super().get_previous_link()
        return self._link(self.keyset[0], backwards=True)

    def _link(self, position: Position | None, *, backwards: bool) -> str | None:
        if position is None:
            return None
        request = cast("Request", self.request)  # set by paginate_queryset, which comes first
        url = remove_query_param(request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, _encode(position, backwards=backwards))

    def get_paginated_response(self, data: Any) -> Response:
        page = getattr(self, "page", None)
        count = page.paginator.count if page is not None else self.count
        response = Response(
            {"count": count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )
        # The same links as headers, for clients of the CSV and GeoJSON forms.
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", response.data["next"]), ("prev", response.data["previous"]))
            if url
        ]
        if links:
            response["Link"] = ", ".join(links)
        response["X-Total-Count"] = str(count)
        return response

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position a page of a list asked with `updated_since` gave in its `next` or "
                "`previous` link (opaque).",
                "schema": {"type": "string"},
            },
        ]


Position = tuple[dt.datetime, int]
INVALID_CURSOR = _("This is not a cursor a page of this list gave: follow its `next` or `previous` link as it is.")


def _position(queryset: QuerySet[Any], row: Any) -> Position:
    """A row's place in the sync order: a model instance, or a tuple of `values_list()`."""
    if isinstance(row, tuple):
        fields = list(queryset._fields)  # type: ignore[attr-defined]
        return row[fields.index("updated_at")], row[fields.index("id")]
    return row.updated_at, row.pk


def _encode(position: Position, *, backwards: bool) -> str:
    updated_at, pk = position
    tokens = {"p": updated_at.astimezone(dt.UTC).isoformat(), "i": str(pk)}
    if backwards:
        tokens["r"] = "1"
    return base64.urlsafe_b64encode(urlencode(tokens).encode()).decode()


def _decode(cursor: str) -> tuple[Position, bool]:
    """The position and direction of a cursor; a 400 naming `cursor` for anything else."""
    try:
        tokens = parse_qs(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii"), strict_parsing=True)
        (updated_at,), (pk,) = tokens.pop("p"), tokens.pop("i")
        reverse = tokens.pop("r", ["0"])
        position = dt.datetime.fromisoformat(updated_at), int(pk)
        if tokens or reverse not in (["0"], ["1"]) or position[0].tzinfo is None or not 0 < position[1] < 2**63:
            raise ValueError(cursor)
    except (ValueError, KeyError, UnicodeError, binascii.Error):
        raise exceptions.ValidationError({"cursor": [INVALID_CURSOR]}) from None
    return position, reverse == ["1"]
