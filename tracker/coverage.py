"""
What stretch of time a hostility report covers (docs/design.md "Time" rule 5). Pure: no
ORM, no clock. corridors/overlap.py builds the overlap rule on it; the report model
stores its result as an index key, so that candidate windows are found by a query.

- `exact`: `[started_at, ended_at)`; with no `ended_at` an instant.
- `hour` / `day`: the whole local hour / local calendar day that contains
  `started_at`, in the zone of the report's own site, up to the end of the hour /
  day that holds the last covered instant before `ended_at` (an end exactly on a
  boundary ends there: intervals are half-open). A day is 23 or 25 hours long on
  DST days.
- `ongoing` with no end: open-ended, from the start above to +infinity.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from tracker.localtime import to_utc, zone

UTC = dt.UTC
EXACT, HOUR, DAY = "exact", "hour", "day"
PRECISIONS = (EXACT, HOUR, DAY)
# The smallest step of a stored timestamp (PostgreSQL and Django keep microseconds).
RESOLUTION = dt.timedelta(microseconds=1)


class Coverage(NamedTuple):
    """
    `[start, end)` in UTC; `end` None is open-ended. An instant has `end == start`
    and `instant` set: it overlaps `[a, b)` when `a <= start < b`.
    """

    start: dt.datetime
    end: dt.datetime | None
    instant: bool = False

    def index_bounds(self) -> tuple[dt.datetime, dt.datetime | None]:
        """
        The half-open range a database index stores for this coverage. An instant `t`
        is stored as `[t, t + 1 µs)`: timestamps have microsecond resolution, so that
        range overlaps `[a, b)` exactly when `a <= t < b`.
        """
        if self.instant:
            return self.start, self.start + RESOLUTION
        return self.start, self.end

    @classmethod
    def from_index_bounds(cls, start: dt.datetime, end: dt.datetime | None, *, instant: bool) -> Coverage:
        """The coverage whose `index_bounds()` these are: the stored key read back (see `is_instant`)."""
        return cls(start, start, instant=True) if instant else cls(start, end)


def is_instant(*, ended_at: dt.datetime | None, ongoing: bool, precision: str) -> bool:
    """A report with an exact time, no end and not ongoing covers a single instant."""
    return precision == EXACT and ended_at is None and not ongoing


def _require_aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware.")


def hour_start(instant: dt.datetime, zone_name: str) -> dt.datetime:
    """The start, in UTC, of the local hour that contains `instant`."""
    local = instant.astimezone(zone(zone_name))
    # replace() keeps `fold`, so the repeated hour when clocks go back stays the one we are in.
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def day_start(day: dt.date, zone_name: str) -> dt.datetime:
    """The first instant of a local calendar day, in UTC (a midnight the clocks skip moves forward)."""
    return to_utc(dt.datetime.combine(day, dt.time()), zone_name)


def _bucket(instant: dt.datetime, precision: str, zone_name: str) -> tuple[dt.datetime, dt.datetime]:
    """The local hour or day that contains `instant`, as a UTC `[start, end)`."""
    if precision == HOUR:
        start = hour_start(instant, zone_name)
        return start, start + dt.timedelta(hours=1)
    day = instant.astimezone(zone(zone_name)).date()
    return day_start(day, zone_name), day_start(day + dt.timedelta(days=1), zone_name)


def covered_interval(
    *,
    started_at: dt.datetime,
    ended_at: dt.datetime | None,
    ongoing: bool,
    precision: str,
    zone_name: str,
) -> Coverage:
    """The UTC interval a report covers, by the rules in this module's docstring."""
    _require_aware("started_at", started_at)
    if ended_at is not None:
        _require_aware("ended_at", ended_at)
        if ended_at <= started_at:
            raise ValueError("ended_at must be after started_at.")
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown time precision: {precision!r}.")
    started_at, ended_at = started_at.astimezone(UTC), ended_at and ended_at.astimezone(UTC)
    open_ended = ended_at is None and ongoing

    if precision == EXACT:
        if is_instant(ended_at=ended_at, ongoing=ongoing, precision=precision):
            return Coverage(started_at, started_at, instant=True)
        return Coverage(started_at, ended_at)  # no end: ongoing, open-ended

    start, bucket_end = _bucket(started_at, precision, zone_name)
    if open_ended:
        return Coverage(start, None)
    if ended_at is None:
        return Coverage(start, bucket_end)
    last_start, last_end = _bucket(ended_at, precision, zone_name)
    return Coverage(start, ended_at if last_start == ended_at else last_end)
