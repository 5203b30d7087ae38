"""
Local wall-clock time to UTC, by docs/design.md "Time" rule 3. Pure: no ORM, no clock.

For schedules (`to_utc`):

- A local time skipped by a DST change moves forward to the first instant that
  exists (03:30 on 27 March 2022 in Kyiv is 04:00 EEST, 01:00 UTC).
- An ambiguous local time, repeated when clocks go back, takes its first (DST)
  occurrence (03:30 on 30 October 2022 in Kyiv is 03:30 EEST, 00:30 UTC).

For a figure's time typed as local time (`resolve`), neither is guessed: a skipped
time is `Skipped` (with the last minute before the change and the first after), an
ambiguous one `Repeated` (with both instants), and the form asks the person.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

UTC = dt.UTC


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def exists(local: dt.datetime, zone_name: str) -> bool:
    """Whether this naive wall-clock time occurs at all in the zone."""
    tz = zone(zone_name)
    there_and_back = local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return there_and_back == local


def to_utc(local: dt.datetime, zone_name: str) -> dt.datetime:
    """The UTC instant of a naive wall-clock time in a zone, by the rules above."""
    if local.tzinfo is not None:
        raise ValueError("to_utc() takes a naive wall-clock time; the zone is given separately.")
    tz = zone(zone_name)
    # fold=0 picks the first occurrence of an ambiguous time (PEP 495).
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if exists(local, zone_name):
        return first
    # In a gap fold=0 applies the offset from before the change, which gives an
    # instant after the change; fold=1 applies the later offset, which gives one
    # before it. The change itself, the first instant that exists, lies between.
    before, after = local.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    after_offset = after.astimezone(tz).utcoffset()
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == after_offset:
            after = middle
        else:
            before = middle
    return after


@dataclass(frozen=True)
class Skipped:
    """A wall-clock time the clocks jumped over: at `start` they went straight to `end` (naive wall times)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Repeated:
    """A wall-clock time that happened twice, when the clocks went back: `first` and `second` (aware, local)."""

    first: dt.datetime
    second: dt.datetime


def resolve(local: dt.datetime, zone_name: str) -> dt.datetime | Skipped | Repeated:
    """
    The UTC instant of a naive wall-clock time in a zone when there is exactly one;
    otherwise what a person must choose between. Never guesses.
    """
    if local.tzinfo is not None:
        raise ValueError("resolve() takes a naive wall-clock time; the zone is given separately.")
    tz = zone(zone_name)
    if not exists(local, zone_name):
        change = to_utc(local, zone_name)  # the first instant that exists after the gap
        offset_before = (change - dt.timedelta(microseconds=1)).astimezone(tz).utcoffset() or dt.timedelta()
        start = change.replace(tzinfo=None) + offset_before
        return Skipped(start=start, end=change.astimezone(tz).replace(tzinfo=None))
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        return Repeated(first=first.astimezone(UTC).astimezone(tz), second=second.astimezone(UTC).astimezone(tz))
    return first.astimezone(UTC)


def with_offset(local: dt.datetime, offset: dt.timedelta, zone_name: str) -> dt.datetime | None:
    """
    A naive wall-clock time read with a given UTC offset, as UTC: only when the zone's
    clock shows that time with that offset (one of a repeated time's two); else None.
    """
    instant = local.replace(tzinfo=dt.timezone(offset)).astimezone(UTC)
    back = instant.astimezone(zone(zone_name))
    if back.replace(tzinfo=None) != local or back.utcoffset() != offset:
        return None
    return instant
