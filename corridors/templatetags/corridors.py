"""
The corridors' template tags: windows in their corridor's local time, their states
and flags, the gap between departures and arrivals (`{% load corridors %}`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from tracker import permissions
from tracker.models import Qualifier
from tracker.wording import figure_text, number, span_text

register = template.Library()


@register.simple_tag
def window_span(window: Any) -> str:
    """A window in its corridor's local time: "08:00–18:00 on 5 May"."""
    return span_text(window.starts_at, window.ends_at, window.corridor.origin.timezone)


@register.simple_tag
def time_left(window: Any, now: dt.datetime) -> str:
    """ "3 h 20 min left" for an open window; rounded down to the minute."""
    return minutes_left(window.minutes_left_at(now))


@register.simple_tag
def minutes_left(minutes: int) -> str:
    """ "3 h 20 min left", from the minutes an open window has left (`CorridorWindow.minutes_left_at`)."""
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)s h %(minutes)s min left") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min left") % {"minutes": minutes}


@register.simple_tag
def window_status(window: Any, now: dt.datetime) -> str:
    return window.status_at(now)


@register.simple_tag
def status_label(status: str) -> str:
    labels = {
        "scheduled": pgettext("window state", "Scheduled"),
        "open": pgettext("window state", "Open now"),
        "closed": pgettext("window state", "Closed"),
        "cancelled": pgettext("window state", "Cancelled"),
    }
    return labels.get(status, status)


@register.simple_tag
def flags_label(n: int) -> str:
    """
    The flags that make a window flagged: open (awaiting review) and acknowledged ones
    alike, so not "open flags" (templates/corridors/_what_is_a_flag.html says what they are).
    """
    return ngettext("%(n)s flag", "%(n)s flags", n) % {"n": number(n)}


@register.simple_tag
def gap_text(totals: Any) -> str:
    """Left minus arrived, in words: who is not (yet) accounted for, and whether that rests on estimates."""
    if totals.departed is None and totals.arrived is None:
        return ""
    if totals.arrived is None:
        return _("not known: no arrivals recorded")
    if totals.departed is None:
        return _("not known: no departures recorded")
    gap = totals.gap
    qualifier = Qualifier.APPROXIMATELY if totals.gap_is_estimate else Qualifier.EXACT
    if gap == 0:
        return _("none: all accounted for (by estimates)") if totals.gap_is_estimate else _("none: all accounted for")
    if gap > 0:
        return _("%(people)s not accounted for") % {"people": figure_text(gap, qualifier)}
    return _("%(people)s more arrived than were counted leaving") % {"people": figure_text(-gap, qualifier)}


@register.simple_tag
def certainty_word(certainty: str) -> str:
    """
    How sure the overlap in time is, in words that cannot be read as the report's
    verification ("verified", "unverified"), which is shown beside it.
    """
    return {
        "confirmed": pgettext("flag certainty", "overlap certain (both times exact)"),
        "possible": pgettext("flag certainty", "overlap possible (only the hour or day is known)"),
    }.get(certainty, certainty)


@register.filter
def can_review(user: Any) -> bool:
    return permissions.can_review_flags(user)
