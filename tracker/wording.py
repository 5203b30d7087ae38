"""
How figures and times read, in the active language: the sentences the pages, the
forms, the admin and the feeds share (the template tags in
tracker/templatetags/dashboard.py and corridors/templatetags/corridors.py wrap them).

- Figures carry their qualifier and proper plural: "about 200 people", "щонайменше
  2 особи", "100–120 people"; numbers are grouped per language (100,000 / 100 000).
- Times are in the local time of the site they are about, never the server's, and
  say their UTC offset where a reader could be in another zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tracker.localtime import zone
from tracker.models import Qualifier


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


def figure(obj: Any, unit: str = "people") -> str:
    """A count, departure, arrival or total, with its qualifier: `{% figure count %}`."""
    return figure_text(obj.count, obj.qualifier, getattr(obj, "count_high", None), unit=unit)


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
