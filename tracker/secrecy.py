"""
The exact position of a restricted site: which fields carry it, and which questions
about them nobody without the permission (tracker.permissions.can_view_exact_location)
may ask.

A restricted shelter's coordinates must not be learnt by any path (docs/design.md,
"Space"): not only by reading them, but also by asking "is there a site with id 7
and latitude >= 47.12?" about seventy times (a binary search), by sorting on them or
by searching them digit by digit. So every lookup, ordering or search whose path
reaches one of these fields is refused, whatever model it starts from (a count's
`site__latitude` as well as a site's `latitude`), in the admin (tracker/adminsite.py)
and in the API's filters (tracker/api/base.py, `FilterSet`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP

# The Site fields that hold where it is exactly (tracker.models.Site).
EXACT_POSITION_FIELDS = ("latitude", "longitude")


def carries_exact_position(field: Any) -> bool:
    """Whether this model field holds a site's exact position: on Site, or on its audit history's copy."""
    from tracker.models import Site

    model = getattr(field, "model", None)
    if model is None or getattr(field, "name", None) not in EXACT_POSITION_FIELDS:
        return False
    # simple-history's HistoricalSite names the model it copies in `instance_type`.
    return model is Site or getattr(model, "instance_type", None) is Site


def reaches_exact_position(model: type[models.Model], path: str) -> bool:
    """
    Whether a lookup, ordering or search path, read from `model`, touches a field that
    carries an exact position: `latitude__gte`, `-longitude`, `site__latitude__startswith`,
    `^parent__latitude` (an admin search prefix), `children__site__longitude`... Parts
    after a plain field are transforms and lookups; an unknown part ends the walk.
    """
    path = path.lstrip("-?^=@")
    opts = model._meta
    for part in path.split(LOOKUP_SEP):
        if part == "pk":
            field: Any = opts.pk
        else:
            try:
                field = opts.get_field(part)
            except FieldDoesNotExist:
                return False
        if carries_exact_position(field):
            return True
        related = getattr(field, "related_model", None)
        if not field.is_relation or related is None or isinstance(related, str):
            return False
        opts = related._meta
    return False


def ordering_reaches_exact_position(model: type[models.Model], item: Any) -> bool:
    """The same for one item of an ordering: a name, or an expression (F("latitude").desc())."""
    if isinstance(item, str):
        return reaches_exact_position(model, item)
    names = [ref.name for ref in _field_refs(item)]
    return any(reaches_exact_position(model, name) for name in names)


def _field_refs(expression: Any) -> list[Any]:
    if isinstance(expression, models.F):
        return [expression]
    found = []
    for source in getattr(expression, "get_source_expressions", list)():
        if source is not None:
            found += _field_refs(source)
    return found


# --- Reading an exact position ------------------------------------------------------
#
# Every piece of code that puts a restricted site's exact position into a response
# says so with `shown()`. The request keeps the ids; once the response is made,
# ExactPositionMiddleware (tracker/middleware.py) marks it `Cache-Control: private,
# no-store` and `Vary: Authorization, Cookie`, so that no shared cache keeps it for
# the public, and writes one line per site to the access log (ExactPositionRead):
# who saw where which shelter is, when, and through what. The public page cache
# never keeps such a page (tracker/pagecache.py).

SHOWN_ATTRIBUTE = "exact_positions_shown"


def shown(sites: Iterable[Any], *, request: Any = None) -> None:
    """
    These sites' exact positions go into the response being made: those of the
    restricted ones are recorded on the request (outside a request, nothing is).
    """
    shown_ids({site.pk for site in sites if site.restricted}, request=request)


def shown_ids(site_ids: Iterable[int], *, request: Any = None) -> None:
    """The same, given the ids of restricted sites."""
    ids = set(site_ids)
    if not ids:
        return
    if request is None:
        from tracker import accounts

        request = accounts.current_request()
    if request is None:
        return
    request = getattr(request, "_request", request)  # the REST framework's wraps Django's
    setattr(request, SHOWN_ATTRIBUTE, getattr(request, SHOWN_ATTRIBUTE, set()) | ids)


def shown_in(request: Any) -> set[int]:
    """The restricted sites whose exact positions the response to this request carries."""
    return set(getattr(getattr(request, "_request", request), SHOWN_ATTRIBUTE, ()))


def channel(request: Any, response: Any) -> str:
    """Through what a person read it: the admin, the API, an export (CSV, GeoJSON) or a page."""
    from tracker.models import ExactPositionRead

    match = getattr(request, "resolver_match", None)
    namespaces = set(match.namespaces) if match is not None else set()
    if "admin" in namespaces:
        return ExactPositionRead.Channel.ADMIN
    if "api" in namespaces:
        renderer = getattr(response, "accepted_renderer", None)
        if getattr(renderer, "format", "json") in ("csv", "geojson"):
            return ExactPositionRead.Channel.EXPORT
        return ExactPositionRead.Channel.API
    return ExactPositionRead.Channel.PAGE


def reads_record(*, request: Any, response: Any, site_ids: set[int]) -> None:
    """One line of the access log for each of these restricted sites, read by the request's user."""
    from tracker import accounts
    from tracker.models import ExactPositionRead, Site

    user = getattr(request, "user", None)
    user = user if user is not None and user.is_authenticated else None
    through = channel(request, response)
    path = request.get_full_path()[:300]
    address = accounts.client_address(request)
    names = dict(Site.objects.filter(pk__in=site_ids).values_list("pk", "name"))
    ExactPositionRead.objects.bulk_create(
        ExactPositionRead(
            user=user,
            username=user.get_username() if user is not None else "",
            site_id=pk if pk in names else None,
            site_name=names.get(pk, ""),
            through=through,
            path=path,
            ip_address=address,
        )
        for pk in sorted(site_ids)
    )
