"""
The dashboard's template tags (`{% load dashboard %}`): figures, times and states as
they read on the pages, in the active language, through tracker/wording.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.templatetags.tz import do_timezone
from django.urls import translate_url
from django.utils.translation import gettext as _

from tracker import permissions
from tracker.localtime import zone
from tracker.models import Qualifier
from tracker.wording import day_of, figure, figure_text, number, span_text, time_of, utc_offset

register = template.Library()
register.simple_tag(figure)
register.filter(utc_offset)


@register.simple_tag
def total(value: Any) -> str:
    """A window's summed departures or arrivals; crossings are named as such."""
    return figure_text(value.count, value.qualifier, unit="crossings" if value.crossings else "people")


@register.simple_tag
def people(n: int) -> str:
    return figure_text(n, Qualifier.EXACT)


@register.filter
def local(value: dt.datetime | None, zone_name: str) -> dt.datetime | None:
    """The instant in the given site's zone; `date` then formats it without converting it again."""
    if value is None:
        return None
    # Django's own `|timezone` filter: marks the result so that `date` keeps its zone.
    return do_timezone(value, zone(zone_name))


@register.simple_tag
def hostility_when(report: Any) -> str:
    """When a hostility report says it happened, in its site's local time and only as precisely as it knows."""
    zone_name = report.site.timezone
    start = report.started_at.astimezone(zone(zone_name))
    values = {"time": time_of(start), "day": day_of(start)}
    if report.ongoing:
        return {
            "day": _("since %(day)s (time of day not known), still going on"),
            "hour": _("since around %(time)s on %(day)s, still going on"),
        }.get(report.time_precision, _("since %(time)s on %(day)s, still going on")) % values
    if report.ended_at is not None:
        end = report.ended_at.astimezone(zone(zone_name))
        if report.time_precision == "day":
            return _("from %(start)s to %(end)s (days known, not times)") % {"start": day_of(start), "end": day_of(end)}
        span = span_text(report.started_at, report.ended_at, zone_name)
        if report.time_precision == "hour":
            return _("around %(span)s (hours known)") % {"span": span}
        return span
    return {
        "day": _("on %(day)s (time of day not known)"),
        "hour": _("around %(time)s on %(day)s (hour known)"),
    }.get(report.time_precision, _("at %(time)s on %(day)s")) % values


@register.simple_tag(takes_context=True)
def language_url(context: dict[str, Any], language: str) -> str:
    """The current page in another language (the i18n_patterns prefix swapped)."""
    request = context["request"]
    return translate_url(request.get_full_path(), language)


@register.simple_tag
def page_range(page: Any) -> str:
    """ "101–200 of 10,000": which rows of a list a page holds."""
    return _("%(first)s–%(last)s of %(total)s") % {
        "first": number(page.start_index()),
        "last": number(page.end_index()),
        "total": number(page.paginator.count),
    }


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key)


@register.filter
def model_name(obj: Any) -> str:
    return obj._meta.model_name


@register.filter
def admin_change_url(obj: Any) -> str:
    """The URL name of the object's page in the admin (the full data entry)."""
    return f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change"


@register.filter
def person(account: Any, viewer: Any) -> str:
    """
    A staff account as `viewer` may see it: its user name to coordinators, admins and
    its own organisation's people; to anyone else, the public included, its
    organisation (tracker.permissions.can_see_people_of).
    """
    if permissions.can_see_people_of(viewer, account.organisation_id) or getattr(viewer, "pk", None) == account.pk:
        return account.get_username()
    return str(account.organisation) if account.organisation is not None else _("a coordinator")


@register.filter
def coordinates(position: Any) -> str:
    """ "47.1, 37.6": decimal degrees with no more digits than the position has (a coarsened one has one)."""

    def degrees(value: float) -> str:
        return f"{value:.4f}".rstrip("0").rstrip(".")

    return f"{degrees(position.latitude)}, {degrees(position.longitude)}"
