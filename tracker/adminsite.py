"""
The admin site (settings: tracker.apps.AdminConfig makes it the default, `admin.site`).

Every model admin registered on it, ours and those of the libraries (knox's tokens,
axes' attempts...), gets `ExactPositionGuard`: for anyone who may not see restricted
sites' exact positions, no changelist filters, orders or searches on a field that
carries one (tracker/secrecy.py), however the admin class was written. A new admin
cannot forget it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList

from tracker import permissions, secrecy

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tracker.models import User


def staff_member(request: HttpRequest) -> User:
    """The account behind an admin request: the admin site lets no one else in (`AdminSite.has_permission`)."""
    return cast("User", request.user)


class ExactPositionGuard(admin.ModelAdmin):
    """
    Refuses (400) a changelist lookup such as `?latitude__gte=47.12` or
    `?site__latitude__startswith=47.1`, leaves out orderings and search fields on an
    exact position, for anyone without the exact-position permission: each would
    answer a yes-or-no question about where a restricted site is.
    """

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest) -> bool:
        if secrecy.reaches_exact_position(self.model, lookup) and not _exact(request):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        if _exact(request):
            return fields
        return [name for name in fields if not secrecy.reaches_exact_position(self.model, name)]

    def get_ordering(self, request: HttpRequest) -> Any:
        ordering = super().get_ordering(request)
        if _exact(request):
            return ordering
        return [item for item in ordering if not secrecy.ordering_reaches_exact_position(self.model, item)]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        changelist = super().get_changelist(request, **kwargs)
        return type("Guarded" + changelist.__name__, (GuardedChangeList, changelist), {})


class GuardedChangeList(ChangeList):
    """The ordering asked for with `?o=` (a column of the list), without the columns that sort by an exact position."""

    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        ordering = super().get_ordering(request, queryset)
        if _exact(request):
            return ordering
        return [item for item in ordering if not secrecy.ordering_reaches_exact_position(self.model, item)]


def _exact(request: HttpRequest | None) -> bool:
    return request is not None and permissions.can_view_exact_location(request.user)


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ExactPositionGuard):
            admin_class = type(
                admin_class.__name__, (ExactPositionGuard, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)
