"""Schedule expansion and local-to-UTC conversion (docs/design.md "Time" rule 3)."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridors.schedule import MAX_DAYS, ScheduleError, expand_schedule
from tracker.localtime import exists, to_utc

UTC = dt.UTC
KYIV = "Europe/Kyiv"


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "local_start", "local_end", "first_date", "days", "expected"),
    [
        (
            "ordinary days: 08:00 EEST is 05:00 UTC",
            "08:00",
            "18:00",
            dt.date(2022, 5, 5),
            3,
            [
                (utc(2022, 5, 5, 5), utc(2022, 5, 5, 15)),
                (utc(2022, 5, 6, 5), utc(2022, 5, 6, 15)),
                (utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)),
            ],
        ),
        (
            "spring forward: each day converted for its own date",
            "08:00",
            "18:00",
            dt.date(2022, 3, 26),
            2,
            [(utc(2022, 3, 26, 6), utc(2022, 3, 26, 16)), (utc(2022, 3, 27, 5), utc(2022, 3, 27, 15))],
        ),
        (
            "fall back: each day converted for its own date",
            "08:00",
            "18:00",
            dt.date(2022, 10, 29),
            2,
            [(utc(2022, 10, 29, 5), utc(2022, 10, 29, 15)), (utc(2022, 10, 30, 6), utc(2022, 10, 30, 16))],
        ),
        (
            "past midnight: an end before the start is on the next day",
            "22:00",
            "06:00",
            dt.date(2022, 5, 5),
            1,
            [(utc(2022, 5, 5, 19), utc(2022, 5, 6, 3))],
        ),
        (
            "past midnight into the spring-forward night: 7 hours long",
            "22:00",
            "06:00",
            dt.date(2022, 3, 26),
            1,
            [(utc(2022, 3, 26, 20), utc(2022, 3, 27, 3))],
        ),
        (
            "equal times: a whole day",
            "08:00",
            "08:00",
            dt.date(2022, 5, 5),
            1,
            [(utc(2022, 5, 5, 5), utc(2022, 5, 6, 5))],
        ),
        (
            "non-existent 03:30 on 27 March 2022 moves forward to 04:00 EEST",
            "03:30",
            "10:00",
            dt.date(2022, 3, 27),
            1,
            [(utc(2022, 3, 27, 1), utc(2022, 3, 27, 7))],
        ),
        (
            "ambiguous 03:30 on 30 October 2022 takes its first (EEST) occurrence",
            "03:30",
            "10:00",
            dt.date(2022, 10, 30),
            1,
            [(utc(2022, 10, 30, 0, 30), utc(2022, 10, 30, 8))],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else None,
)
def test_it_expands_schedules(case, local_start, local_end, first_date, days, expected):
    windows = expand_schedule(
        local_start=dt.time.fromisoformat(local_start),
        local_end=dt.time.fromisoformat(local_end),
        first_date=first_date,
        days=days,
        zone_name=KYIV,
    )
    assert [(w.start, w.end) for w in windows] == expected


def test_it_refuses_a_window_that_the_clocks_skip_entirely():
    with pytest.raises(ScheduleError, match=r"2022-03-27.*skip"):
        expand_schedule(
            local_start=dt.time(3, 10),
            local_end=dt.time(3, 50),
            first_date=dt.date(2022, 3, 27),
            days=1,
            zone_name=KYIV,
        )


@pytest.mark.parametrize("days", [0, -1, MAX_DAYS + 1])
def test_it_refuses_a_number_of_days_out_of_range(days):
    with pytest.raises(ScheduleError, match="1 to 60 days"):
        expand_schedule(
            local_start=dt.time(8), local_end=dt.time(18), first_date=dt.date(2022, 5, 5), days=days, zone_name=KYIV
        )


def test_it_knows_which_local_times_exist():
    assert not exists(dt.datetime(2022, 3, 27, 3, 30), KYIV)  # noqa: DTZ001
    assert exists(dt.datetime(2022, 10, 30, 3, 30), KYIV)  # noqa: DTZ001
    assert to_utc(dt.datetime(2022, 10, 30, 4, 0), KYIV) == utc(2022, 10, 30, 2)  # noqa: DTZ001


def test_it_refuses_an_aware_wall_clock_time():
    with pytest.raises(ValueError, match="naive"):
        to_utc(utc(2022, 5, 5, 8), KYIV)


# --- Property: the production code against a brute-force oracle --------------------

# Zones with the awkward cases: DST at midnight (Santiago, Havana), half-hour DST
# (Lord Howe), 45-minute offsets (Chatham), no DST at all (UTC, Kathmandu).
ZONES = [
    "Europe/Kyiv",
    "Europe/London",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Kathmandu",
    "UTC",
]


def oracle_to_utc(wall: dt.datetime, zone_name: str) -> dt.datetime:
    """
    Every UTC minute within 15 hours of the wall time, looked at in the zone: the
    earliest that shows the wall time; if none does (a gap), the earliest that
    shows a later one — the first instant that exists.
    """
    tz = zoneinfo.ZoneInfo(zone_name)
    first = wall.replace(tzinfo=UTC) - dt.timedelta(hours=15)
    candidates = [first + dt.timedelta(minutes=k) for k in range(30 * 60)]
    shown = [(u, u.astimezone(tz).replace(tzinfo=None)) for u in candidates]
    matching = [u for u, local in shown if local == wall]
    if matching:
        return min(matching)
    return min(u for u, local in shown if local > wall)


def oracle_schedule(local_start, local_end, first_date, days, zone_name):
    windows = []
    for n in range(days):
        day = first_date + dt.timedelta(days=n)
        end_day = day + dt.timedelta(days=1) if local_end <= local_start else day
        windows.append(
            (
                oracle_to_utc(dt.datetime.combine(day, local_start), zone_name),
                oracle_to_utc(dt.datetime.combine(end_day, local_end), zone_name),
            )
        )
    return windows


@functools.cache
def transitions(zone_name: str, year: int) -> tuple[dt.datetime, ...]:
    """Local wall-clock times just after each offset change in the year, found by scanning (not by the code tested)."""
    tz = zoneinfo.ZoneInfo(zone_name)
    found = []
    day = dt.datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        next_day = day + dt.timedelta(days=1)
        if day.astimezone(tz).utcoffset() != next_day.astimezone(tz).utcoffset():
            t = day
            while t.astimezone(tz).utcoffset() == day.astimezone(tz).utcoffset():
                t += dt.timedelta(minutes=15)
            found.append(t.astimezone(tz).replace(tzinfo=None))
        day = next_day
    return tuple(found)


any_time = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
any_date = st.dates(dt.date(1995, 1, 1), dt.date(2035, 12, 31))


@st.composite
def schedules(draw):
    """Half the draws put the start or the end within two hours of a real DST change of the zone."""
    zone_name = draw(st.sampled_from(ZONES))
    local_start, local_end, first_date = draw(any_time), draw(any_time), draw(any_date)
    near = transitions(zone_name, draw(st.integers(2005, 2030)))
    if near and draw(st.booleans()):
        moment = draw(st.sampled_from(near)) + dt.timedelta(minutes=draw(st.integers(-120, 120)))
        if draw(st.booleans()):
            local_start, first_date = moment.time(), moment.date() - dt.timedelta(days=draw(st.integers(0, 2)))
        else:
            local_end, first_date = moment.time(), moment.date() - dt.timedelta(days=draw(st.integers(0, 2)))
    return zone_name, local_start, local_end, first_date, draw(st.integers(1, 4))


@given(schedules())
def test_expansion_matches_the_brute_force_oracle(schedule):
    zone_name, local_start, local_end, first_date, days = schedule
    expected = oracle_schedule(local_start, local_end, first_date, days, zone_name)
    if any(end <= start for start, end in expected):
        with pytest.raises(ScheduleError):
            expand_schedule(
                local_start=local_start, local_end=local_end, first_date=first_date, days=days, zone_name=zone_name
            )
        return
    windows = expand_schedule(
        local_start=local_start, local_end=local_end, first_date=first_date, days=days, zone_name=zone_name
    )
    assert [(w.start, w.end) for w in windows] == expected
