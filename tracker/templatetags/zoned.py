"""Times in the admin's own templates, with their zone and offset (tracker/admin_time.py)."""

from __future__ import annotations

import datetime as dt

from django import template

from tracker.admin_time import zoned_text

register = template.Library()


@register.filter
def zoned(value: dt.datetime | None) -> str:
    """ "5 May 2022, 08:00 Europe/Kyiv (UTC+3)" in the admin's zone."""
    return zoned_text(value) if isinstance(value, dt.datetime) else ""
