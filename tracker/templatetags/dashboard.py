"""
How figures, times and states read on the dashboard, in the active language.

- Figures carry their qualifier and proper plural: "about 200 people", "щонайменше
  2 особи", "100–120 people"; numbers are grouped per language (100,000 / 100 000).
- Times are in the local time of the site they are about, never the server's, and
  say their UTC offset where a reader could be in another zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.templatetags.tz import do_timezone
from django.urls import translate_url
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from tracker import permissions
from tracker.localtime import zone
from tracker.models import Qualifier

register = template.Library()


def number(value: int) -> str:
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def figure_text(count: int, qualifier: str, count_high: int | None = None, *, unit: str = "people") -> str:
    """
    "about 200 people", "at least 100 people", "100–120 people", "5 crossings".

    The Ukrainian qualifiers are adverbs (приблизно, щонайменше, щонайбільше), which
    leave the noun's plural form to the number: 1 особа, 2 особи, 5 осіб.
    """
    plural_of = count_high if count_high is not None else count
    shown = f"{number(count)}–{number(count_high)}" if count_high is not None else number(count)
    if unit == "crossings":
        forms: dict[str, str] = {
            Qualifier.EXACT: ngettext("%(n)s crossing", "%(n)s crossings", plural_of),
            Qualifier.APPROXIMATELY: ngettext("about %(n)s crossing", "about %(n)s crossings", plural_of),
            Qualifier.AT_LEAST: ngettext("at least %(n)s crossing", "at least %(n)s crossings", plural_of),
            Qualifier.AT_MOST: ngettext("at most %(n)s crossing", "at most %(n)s crossings", plural_of),
        }
    else:
        forms = {
            Qualifier.EXACT: ngettext("%(n)s person", "%(n)s people", plural_of),
            Qualifier.APPROXIMATELY: ngettext("about %(n)s person", "about %(n)s people", plural_of),
            Qualifier.AT_LEAST: ngettext("at least %(n)s person", "at least %(n)s people", plural_of),
            Qualifier.AT_MOST: ngettext("at most %(n)s person", "at most %(n)s people", plural_of),
        }
    return forms.get(qualifier, forms[Qualifier.EXACT]) % {"n": shown}


@register.simple_tag
def figure(obj: Any, unit: str = "people") -> str:
    """A count, departure, arrival or total, with its qualifier: `{% figure count %}`."""
    return figure_text(obj.count, obj.qualifier, getattr(obj, "count_high", None), unit=unit)


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


@register.filter
def utc_offset(value: dt.datetime | None) -> str:
    """ "UTC+3", "UTC+5:30", "UTC" for an aware local time."""
    if value is None or value.utcoffset() is None:
        return ""
    offset = value.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def time_of(value: dt.datetime) -> str:
    return formats.date_format(value, "TIME_FORMAT")


def day_of(value: dt.datetime) -> str:
    """ "5 May" this year; "5 May 2022" for another year, so old data never reads as current."""
    same_year = value.year == timezone.now().astimezone(value.tzinfo).year
    return formats.date_format(value, "MONTH_DAY_FORMAT" if same_year else "DATE_FORMAT")


def calendar(now: dt.datetime) -> str:
    """
    What day_of() reads of the clock, as a key for fragments kept while they show the
    same (tracker/templatetags/fragments.py): the year, the same in every zone but
    around New Year (zones run from UTC−12 to UTC+14); then the quarter of an hour, on
    which every zone's midnight falls.
    """
    if (now - dt.timedelta(hours=12)).year == (now + dt.timedelta(hours=14)).year:
        return str(now.year)
    return f"{now:%Y-%m-%dT%H}:{now.minute // 15}"


def span_text(start: dt.datetime, end: dt.datetime, zone_name: str) -> str:
    """ "08:00–18:00 on 5 May", or "22:00 on 5 May – 06:00 on 6 May" across midnight, in the zone."""
    tz = zone(zone_name)
    s, e = start.astimezone(tz), end.astimezone(tz)
    midnight_end = e.time() == dt.time(0) and (e.date() - s.date()).days == 1
    if s.date() == e.date() or midnight_end:
        return _("%(start)s–%(end)s on %(day)s") % {
            "start": time_of(s),
            "end": "24:00" if midnight_end else time_of(e),
            "day": day_of(s),
        }
    return _("%(start)s on %(start_day)s – %(end)s on %(end_day)s") % {
        "start": time_of(s),
        "start_day": day_of(s),
        "end": time_of(e),
        "end_day": day_of(e),
    }


@register.simple_tag
def window_span(window: Any) -> str:
    """A window in its corridor's local time: "08:00–18:00 on 5 May"."""
    return span_text(window.starts_at, window.ends_at, window.corridor.origin.timezone)


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


@register.simple_tag(takes_context=True)
def language_url(context: dict[str, Any], language: str) -> str:
    """The current page in another language (the i18n_patterns prefix swapped)."""
    request = context["request"]
    return translate_url(request.get_full_path(), language)


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
def can_review(user: Any) -> bool:
    return permissions.can_review_flags(user)


@register.filter
def coordinates(position: Any) -> str:
    """ "47.1, 37.6": decimal degrees with no more digits than the position has (a coarsened one has one)."""

    def degrees(value: float) -> str:
        return f"{value:.4f}".rstrip("0").rstrip(".")

    return f"{degrees(position.latitude)}, {degrees(position.longitude)}"
