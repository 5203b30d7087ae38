"""
Every time in the admin says its zone and UTC offset: "5 May 2022, 08:00 Europe/Kyiv (UTC+3)".

The admin shows and reads times in the current zone (TIME_ZONE), not in UTC and not
in a site's zone; a coordinator who took 08:00 for UTC would move a window by hours.
So every date-and-time box carries its zone and offset beside it, and so does every
time in a list or on a read-only line. The offset is that of the time shown (summer
and winter differ), or, for an empty box, the zone's offsets this year.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.admin import helpers, widgets
from django.contrib.admin import utils as admin_utils
from django.contrib.admin.templatetags import admin_list
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from tracker.wording import utc_offset


def zone_label(value: dt.datetime | None = None) -> str:
    """ "Europe/Kyiv (UTC+3)" for a time (aware, or naive local with its fold); the zone's offsets without one."""
    zone = timezone.get_current_timezone()
    name = timezone.get_current_timezone_name()
    if isinstance(value, dt.datetime):
        local = value.astimezone(zone) if timezone.is_aware(value) else value.replace(tzinfo=zone)
        return f"{name} ({utc_offset(local)})"
    year = timezone.now().year
    offsets = dict.fromkeys(utc_offset(dt.datetime(year, month, 1, 12, tzinfo=zone)) for month in (1, 7))
    if len(offsets) == 1:
        return f"{name} ({next(iter(offsets))})"
    first, second = offsets
    return _("%(zone)s (%(first)s or %(second)s, by the date)") % {"zone": name, "first": first, "second": second}


class ZonedSplitDateTime(widgets.AdminSplitDateTime):
    """The admin's date and time boxes, with the zone and offset they are read in beside them."""

    template_name = "admin/widgets/zoned_split_datetime.html"

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["zone_label"] = zone_label(value if isinstance(value, dt.datetime) else None)
        return context


def zoned_text(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return f"{formats.localize(local)} {zone_label(local)}"


_display_for_field = admin_utils.display_for_field


def display_for_field(value: Any, field: Any, empty_value_display: str, avoid_link: bool = False) -> Any:
    """Django's, with a time's zone and offset after it."""
    if isinstance(field, models.DateTimeField) and isinstance(value, dt.datetime) and not field.flatchoices:
        return zoned_text(value)
    return _display_for_field(value, field, empty_value_display, avoid_link)


_display_for_value = admin_utils.display_for_value


def display_for_value(value: Any, empty_value_display: str, boolean: bool = False) -> Any:
    """Django's, for what a list column's method returns: a time says its zone and offset."""
    if isinstance(value, dt.datetime) and not boolean:
        return zoned_text(value)
    return _display_for_value(value, empty_value_display, boolean)


def install() -> None:
    """
    Lists and read-only lines format a datetime with Django's `display_for_field` (and a
    list column's method's with `display_for_value`), which the admin's list tags and
    form helpers import by name: point them at ours. Django has no setting for this.
    (Called once, from tracker/apps.py. tests/tracker/test_admin_times.py checks pages.)
    """
    helpers.display_for_field = display_for_field  # type: ignore[attr-defined]  # private to django.contrib.admin; the stubs omit it
    admin_list.display_for_field = display_for_field  # type: ignore[attr-defined]  # private to django.contrib.admin; the stubs omit it
    admin_list.display_for_value = display_for_value  # type: ignore[attr-defined]  # private to django.contrib.admin; the stubs omit it
