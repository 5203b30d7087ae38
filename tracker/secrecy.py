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
