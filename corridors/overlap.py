"""
The overlap rule (docs/design.md "Time" rules 4–5, "Flags"): does a corridor window and a
hostility report overlap in time, what is the clipped overlap, how certain is it.
Pure: plain values in, plain values out; no ORM, no clock. Every path that raises
or withdraws flags — the tasks, the sweep, the tests — decides with this rule: the
flag engine with `overlap_of_coverage()` on the coverage each report stores (derived
by `covered_interval()` when it is saved, read back by `stored_coverage()`), everything
else with `overlap()`.

Where the report is (docs/design.md "Space") is decided by the candidate queries in
corridors/candidates.py: this rule is only about time.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from tracker.coverage import EXACT, Coverage, covered_interval, is_instant

__all__ = [
    "CONFIRMED",
    "POSSIBLE",
    "Overlap",
    "ReportTimes",
    "WindowTimes",
    "certainty",
    "coverage_of",
    "covered_interval",
    "overlap",
    "overlap_of_coverage",
    "stored_coverage",
]

CONFIRMED, POSSIBLE = "confirmed", "possible"


class WindowTimes(NamedTuple):
    """A corridor window, `[starts_at, ends_at)` in UTC. A cancelled window is never flagged."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    cancelled: bool = False


class ReportTimes(NamedTuple):
    """What the rule needs to know of a hostility report; `zone_name` is its site's zone."""

    started_at: dt.datetime
    ended_at: dt.datetime | None
    ongoing: bool
    precision: str
    zone_name: str
    retracted: bool = False


class Overlap(NamedTuple):
    """The overlap clipped to the window; for an instant both ends are that instant."""

    start: dt.datetime
    end: dt.datetime
    certainty: str


def certainty(precision: str) -> str:
    """An overlap found with an exact time is confirmed; with only the hour or the day known, possible."""
    return CONFIRMED if precision == EXACT else POSSIBLE


def clip(window: WindowTimes, coverage: Coverage) -> tuple[dt.datetime, dt.datetime] | None:
    """The part of the window the coverage overlaps (half-open: touching is not overlapping), or None."""
    if coverage.instant:
        t = coverage.start
        return (t, t) if window.starts_at <= t < window.ends_at else None
    if coverage.start >= window.ends_at or (coverage.end is not None and coverage.end <= window.starts_at):
        return None
    end = window.ends_at if coverage.end is None else min(window.ends_at, coverage.end)
    return max(window.starts_at, coverage.start), end


def coverage_of(report: ReportTimes) -> Coverage:
    """What the report covers (tracker/coverage.py); computed once per report, used for each window."""
    return covered_interval(
        started_at=report.started_at,
        ended_at=report.ended_at,
        ongoing=report.ongoing,
        precision=report.precision,
        zone_name=report.zone_name,
    )


def stored_coverage(
    start: dt.datetime, end: dt.datetime | None, *, ended_at: dt.datetime | None, ongoing: bool, precision: str
) -> tuple[Coverage, str]:
    """
    What a report covers, read back from the range it stores (its `coverage_start` and
    `coverage_end`), and how certain an overlap with it is: computed once per report,
    used for each window with `overlap_of_coverage()`.
    """
    instant = is_instant(ended_at=ended_at, ongoing=ongoing, precision=precision)
    return Coverage.from_index_bounds(start, end, instant=instant), certainty(precision)


def overlap_of_coverage(window: WindowTimes, coverage: Coverage, level: str) -> Overlap | None:
    """`overlap()` for a report whose coverage (and its certainty(), `level`) is known and which is not retracted."""
    if window.cancelled:
        return None
    clipped = clip(window, coverage)
    return None if clipped is None else Overlap(clipped[0], clipped[1], level)


def overlap(window: WindowTimes, report: ReportTimes) -> Overlap | None:
    """
    The flag this pair should have, or None. A retracted report overlaps nothing; a
    cancelled window is never flagged.
    """
    if window.cancelled or report.retracted:
        return None
    return overlap_of_coverage(window, coverage_of(report), certainty(report.precision))
