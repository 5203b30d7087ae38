"""The overlap rule (docs/design.md "Time" rules 4–5): one table of edge cases."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridors.overlap import Overlap, ReportTimes, WindowTimes, overlap
from tracker.coverage import Coverage, covered_interval, is_instant

UTC = dt.UTC
KYIV = "Europe/Kyiv"


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


# The demo's window: 08:00–18:00 Kyiv (EEST) on 5 May 2022.
MAY5 = WindowTimes(utc(2022, 5, 5, 5), utc(2022, 5, 5, 15))


def report(start, end=None, *, precision="exact", ongoing=False, zone=KYIV, retracted=False):
    return ReportTimes(start, end, ongoing, precision, zone, retracted)


def confirmed(start, end):
    return Overlap(start, end, "confirmed")


def possible(start, end):
    return Overlap(start, end, "possible")


@pytest.mark.parametrize(
    ("case", "window", "report", "expected"),
    [
        (
            "inside the window",
            MAY5,
            report(utc(2022, 5, 5, 7), utc(2022, 5, 5, 9)),
            confirmed(utc(2022, 5, 5, 7), utc(2022, 5, 5, 9)),
        ),
        (
            "contains the window: clipped to it",
            MAY5,
            report(utc(2022, 5, 5, 1), utc(2022, 5, 6)),
            confirmed(MAY5.starts_at, MAY5.ends_at),
        ),
        (
            "starts before, ends inside",
            MAY5,
            report(utc(2022, 5, 5, 4), utc(2022, 5, 5, 6)),
            confirmed(utc(2022, 5, 5, 5), utc(2022, 5, 5, 6)),
        ),
        (
            "ends exactly at the window's start: touching is not overlapping",
            MAY5,
            report(utc(2022, 5, 5, 3), utc(2022, 5, 5, 5)),
            None,
        ),
        (
            "starts exactly at the window's end: touching is not overlapping",
            MAY5,
            report(utc(2022, 5, 5, 15), utc(2022, 5, 5, 16)),
            None,
        ),
        (
            "ends one microsecond into the window",
            MAY5,
            report(utc(2022, 5, 5, 3), utc(2022, 5, 5, 5, 0, 0, 1)),
            confirmed(utc(2022, 5, 5, 5), utc(2022, 5, 5, 5, 0, 0, 1)),
        ),
        (
            "an instant at the window's start is inside",
            MAY5,
            report(utc(2022, 5, 5, 5)),
            confirmed(utc(2022, 5, 5, 5), utc(2022, 5, 5, 5)),
        ),
        ("an instant at the window's end is outside", MAY5, report(utc(2022, 5, 5, 15)), None),
        (
            "an instant just before the end is inside",
            MAY5,
            report(utc(2022, 5, 5, 14, 59, 59, 999999)),
            confirmed(utc(2022, 5, 5, 14, 59, 59, 999999), utc(2022, 5, 5, 14, 59, 59, 999999)),
        ),
        ("an instant just before the start is outside", MAY5, report(utc(2022, 5, 5, 4, 59, 59, 999999)), None),
        (
            "ongoing since before: open-ended, clipped to the window",
            MAY5,
            report(utc(2022, 5, 3), ongoing=True),
            confirmed(MAY5.starts_at, MAY5.ends_at),
        ),
        ("ongoing from after the window", MAY5, report(utc(2022, 5, 5, 15), ongoing=True), None),
        (
            "ongoing from inside the window",
            MAY5,
            report(utc(2022, 5, 5, 12), ongoing=True),
            confirmed(utc(2022, 5, 5, 12), MAY5.ends_at),
        ),
        (
            "hour precision covers the whole local hour: possible",
            MAY5,
            report(utc(2022, 5, 5, 14, 30), precision="hour"),
            possible(utc(2022, 5, 5, 14), utc(2022, 5, 5, 15)),
        ),
        (
            "hour precision, the hour just after the window",
            MAY5,
            report(utc(2022, 5, 5, 15, 10), precision="hour"),
            None,
        ),
        (
            "hour precision, the hour just before the window touches it",
            MAY5,
            report(utc(2022, 5, 5, 4, 59), precision="hour"),
            None,
        ),
        (
            "hour precision up to the end's hour",
            MAY5,
            report(utc(2022, 5, 5, 3, 10), utc(2022, 5, 5, 5, 20), precision="hour"),
            possible(utc(2022, 5, 5, 5), utc(2022, 5, 5, 6)),
        ),
        (
            "hour precision with an end on the hour ends there",
            MAY5,
            report(utc(2022, 5, 5, 3, 10), utc(2022, 5, 5, 5), precision="hour"),
            None,
        ),
        (
            "hour precision in a zone half an hour off UTC",
            WindowTimes(utc(2022, 5, 5, 5), utc(2022, 5, 5, 6)),
            report(utc(2022, 5, 5, 4, 40), precision="hour", zone="Asia/Kolkata"),
            possible(utc(2022, 5, 5, 5), utc(2022, 5, 5, 5, 30)),
        ),
        (
            "day precision: local day 6 May in Kyiv is 5 May 21:00 – 6 May 21:00 UTC",
            WindowTimes(utc(2022, 5, 5, 20), utc(2022, 5, 5, 22)),
            report(utc(2022, 5, 6, 10), precision="day"),
            possible(utc(2022, 5, 5, 21), utc(2022, 5, 5, 22)),
        ),
        (
            "day precision: the local day of an instant late in the UTC evening is the next one",
            WindowTimes(utc(2022, 5, 6, 20), utc(2022, 5, 6, 22)),
            report(utc(2022, 5, 5, 21, 30), precision="day"),
            possible(utc(2022, 5, 6, 20), utc(2022, 5, 6, 21)),
        ),
        (
            "day precision: does not reach the previous local day",
            WindowTimes(utc(2022, 5, 5, 15), utc(2022, 5, 5, 21)),
            report(utc(2022, 5, 6, 10), precision="day"),
            None,
        ),
        (
            "day precision up to the end's day",
            WindowTimes(utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)),
            report(utc(2022, 5, 5, 10), utc(2022, 5, 7, 1), precision="day"),
            possible(utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)),
        ),
        (
            "day precision, ongoing: from local midnight on",
            MAY5,
            report(utc(2022, 5, 4, 22), precision="day", ongoing=True),
            possible(MAY5.starts_at, MAY5.ends_at),
        ),
        (
            "spring forward: local day 27 March 2022 in Kyiv is 23 hours",
            WindowTimes(utc(2022, 3, 27, 20), utc(2022, 3, 27, 23)),
            report(utc(2022, 3, 27, 12), precision="day"),
            possible(utc(2022, 3, 27, 20), utc(2022, 3, 27, 21)),
        ),
        (
            "fall back: local day 30 October 2022 in Kyiv is 25 hours",
            WindowTimes(utc(2022, 10, 30, 20), utc(2022, 10, 30, 23)),
            report(utc(2022, 10, 30, 12), precision="day"),
            possible(utc(2022, 10, 30, 20), utc(2022, 10, 30, 22)),
        ),
        (
            "fall back: the repeated local hour 03:00 EET is its own hour",
            WindowTimes(utc(2022, 10, 30), utc(2022, 10, 30, 2)),
            report(utc(2022, 10, 30, 1, 30), precision="hour"),
            possible(utc(2022, 10, 30, 1), utc(2022, 10, 30, 2)),
        ),
        (
            "retracted reports overlap nothing",
            MAY5,
            report(utc(2022, 5, 5, 7), utc(2022, 5, 5, 9), retracted=True),
            None,
        ),
        (
            "cancelled windows are never flagged",
            MAY5._replace(cancelled=True),
            report(utc(2022, 5, 5, 7), utc(2022, 5, 5, 9)),
            None,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_overlap_rule(case, window, report, expected):
    assert overlap(window, report) == expected


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        (
            "an exact report without an end is an instant",
            {"started_at": utc(2022, 5, 5, 7)},
            Coverage(utc(2022, 5, 5, 7), utc(2022, 5, 5, 7), instant=True),
        ),
        (
            "local day 6 May 2022 in Kyiv",
            {"started_at": utc(2022, 5, 6, 10), "precision": "day"},
            Coverage(utc(2022, 5, 5, 21), utc(2022, 5, 6, 21)),
        ),
        (
            "an hour report ending mid-hour covers to the end of that hour",
            {"started_at": utc(2022, 5, 5, 7, 5), "ended_at": utc(2022, 5, 5, 8, 1), "precision": "hour"},
            Coverage(utc(2022, 5, 5, 7), utc(2022, 5, 5, 9)),
        ),
        (
            "a day report in a zone west of UTC",
            {"started_at": utc(2022, 5, 6, 3), "precision": "day", "zone_name": "America/New_York"},
            Coverage(utc(2022, 5, 5, 4), utc(2022, 5, 6, 4)),
        ),
        (
            "ongoing with day precision",
            {"started_at": utc(2022, 5, 3, 12), "precision": "day", "ongoing": True},
            Coverage(utc(2022, 5, 2, 21), None),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_what_a_report_covers(case, kwargs, expected):
    arguments = {"ended_at": None, "ongoing": False, "precision": "exact", "zone_name": KYIV, **kwargs}
    assert covered_interval(**arguments) == expected


def test_an_instant_is_indexed_as_one_microsecond():
    coverage = covered_interval(
        started_at=utc(2022, 5, 5, 7), ended_at=None, ongoing=False, precision="exact", zone_name=KYIV
    )
    assert coverage.index_bounds() == (utc(2022, 5, 5, 7), utc(2022, 5, 5, 7, 0, 0, 1))


@given(
    started_at=st.datetimes(
        # Hypothesis takes naive bounds and adds the zone.
        min_value=dt.datetime(2021, 1, 1),  # noqa: DTZ001
        max_value=dt.datetime(2024, 1, 1),  # noqa: DTZ001
        timezones=st.just(dt.UTC),
    ),
    # Down to one microsecond: an exact report that long must not be read back as an instant.
    length=st.none() | st.timedeltas(min_value=dt.timedelta(microseconds=1), max_value=dt.timedelta(days=3)),
    ongoing=st.booleans(),
    precision=st.sampled_from(["exact", "hour", "day"]),
    zone_name=st.sampled_from([KYIV, "Europe/London", "America/New_York", "Asia/Kolkata"]),
)
def test_the_stored_coverage_reads_back_as_the_coverage(started_at, length, ongoing, precision, zone_name):
    """The flag engine decides on the stored key (Coverage.from_index_bounds): it must lose nothing."""
    ended_at = None if length is None else started_at + length
    ongoing = ongoing and ended_at is None
    coverage = covered_interval(
        started_at=started_at, ended_at=ended_at, ongoing=ongoing, precision=precision, zone_name=zone_name
    )
    instant = is_instant(ended_at=ended_at, ongoing=ongoing, precision=precision)
    assert Coverage.from_index_bounds(*coverage.index_bounds(), instant=instant) == coverage


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"started_at": dt.datetime(2022, 5, 5, 7)}, "timezone-aware"),  # noqa: DTZ001 - the point of the test
        ({"ended_at": utc(2022, 5, 5, 6)}, "after started_at"),
        ({"precision": "minute"}, "Unknown time precision"),
    ],
)
def test_bad_input_is_refused_with_a_reason(kwargs, message):
    arguments = {
        "started_at": utc(2022, 5, 5, 7),
        "ended_at": None,
        "ongoing": False,
        "precision": "exact",
        "zone_name": KYIV,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        covered_interval(**arguments)
