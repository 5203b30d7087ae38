"""
Who may call the API, how lists are cut into pages and how `?format=` is read: the
conventions the REST framework reads from settings when it is first imported (so this
module imports nothing of ours that imports the framework's views; see
settings.REST_FRAMEWORK).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, negotiation, pagination, permissions
from rest_framework.response import Response

from tracker import permissions as roles

if TYPE_CHECKING:
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

    def filter_renderers(self, renderers: list[Any], format: str) -> list[Any]:
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            formats = ", ".join(dict.fromkeys(renderer.format for renderer in renderers))
            raise exceptions.ValidationError({"format": [_("Give one of: %(formats)s.") % {"formats": formats}]})
        return matching


class Pagination(pagination.PageNumberPagination):
    """`?page=K&page_size=N`, N up to 500; a `page_size` outside 1..500 is a 400, not silently changed."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [_("Give a whole number from 1 to %(max)d.") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        # The same links as headers, for clients of the CSV and GeoJSON forms.
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", response.data["next"]), ("prev", response.data["previous"]))
            if url
        ]
        if links:
            response["Link"] = ", ".join(links)
        response["X-Total-Count"] = str(response.data["count"])
        return response
