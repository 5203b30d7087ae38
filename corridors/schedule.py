"""
Schedule expansion: "08:00–18:00 local, daily, 3 days from 2022-05-05" into concrete
UTC windows. Pure: no ORM, no clock (docs/design.md "Time" rule 3).

Each day is converted for its own date, so DST changes are honoured: 08:00 in Kyiv
is 06:00 UTC on 26 March 2022 and 05:00 UTC on 27 March. An end at or before the
start runs past midnight into the next day (equal times: a full day).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from tracker.localtime import to_utc

MAX_DAYS = 60


class ScheduleError(ValueError):
    """A schedule that cannot be expanded; the message says why, for a person."""


class Interval(NamedTuple):
    """A half-open UTC interval `[start, end)`."""

    start: dt.datetime
    end: dt.datetime


def expand_schedule(
    *, local_start: dt.time, local_end: dt.time, first_date: dt.date, days: int, zone_name: str
) -> list[Interval]:
    """One UTC window a day for `days` days from `first_date`, in the zone's wall-clock time."""
    if not 1 <= days <= MAX_DAYS:
        raise ScheduleError(f"A schedule covers 1 to {MAX_DAYS} days, not {days}.")
    if local_start.tzinfo is not None or local_end.tzinfo is not None:
        raise ScheduleError("Schedule times are local wall-clock times, without an offset.")
    past_midnight = local_end <= local_start
    windows = []
    for offset in range(days):
        day = first_date + dt.timedelta(days=offset)
        end_day = day + dt.timedelta(days=1) if past_midnight else day
        start = to_utc(dt.datetime.combine(day, local_start), zone_name)
        end = to_utc(dt.datetime.combine(end_day, local_end), zone_name)
        if end <= start:
            raise ScheduleError(
                f"On {day.isoformat()} the window {local_start:%H:%M}–{local_end:%H:%M} does not exist "
                f"in {zone_name}: the clocks skip it."
            )
        windows.append(Interval(start, end))
    return windows
