"""
Charts drawn on the server as inline SVG: plain geometry, computed here, rendered by
templates. No canvas and no script, so a chart costs a few hundred bytes and shows
without JavaScript; every chart has a table of the same data beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import formats

from tracker.localtime import zone

# The drawing's own units; CSS scales the SVG to the width available. A phone gets a
# narrower drawing (the page has both; CSS shows one), so that its labels, 12 units high,
# stay about 12 px instead of shrinking with a wide drawing to a third of the screen.
WIDTH, HEIGHT = 640, 240
NARROW_WIDTH = 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
# Shapes tell sources apart without relying on colour alone (WCAG 1.4.1).
SHAPES = ("circle", "square", "triangle", "diamond")


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `ticks` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return float(multiple * power)
    return float(10 * power)


def marker_path(shape: str, x: float, y: float) -> str:
    """An SVG path for a data point's marker, centred on (x, y)."""
    if shape == "square":
        return f"M{x - 4:.1f} {y - 4:.1f}h8v8h-8z"
    if shape == "triangle":
        return f"M{x:.1f} {y - 5:.1f}l5 9h-10z"
    if shape == "diamond":
        return f"M{x:.1f} {y - 5:.1f}l5 5l-5 5l-5 -5z"
    return f"M{x - 4.5:.1f} {y:.1f}a4.5 4.5 0 1 0 9 0a4.5 4.5 0 1 0 -9 0z"


@dataclass
class Point:
    x: float
    y: float
    y_high: float | None
    label: str
    shape: str = "circle"

    @property
    def marker(self) -> str:
        return marker_path(self.shape, self.x, self.y)


@dataclass
class Series:
    name: str
    shape: str
    points: list[Point] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def legend_marker(self) -> str:
        return marker_path(self.shape, 0, 0)


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class CountChart:
    width: int
    height: int
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM


def count_chart(counts: Sequence[Any], *, zone_name: str | None = None, width: int = WIDTH) -> CountChart | None:
    """
    Counts over time, one series per source (a range is drawn as a bar from its low
    to its high end). Times on the axis are in the site's local time. None without data.
    """
    if not counts:
        return None
    zone_name = zone_name or counts[0].site.timezone
    tz = zone(zone_name)
    times = [c.as_of for c in counts]
    start, end = min(times), max(times)
    if end - start < dt.timedelta(hours=1):
        start, end = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
    top_value = max(c.count_high or c.count for c in counts) or 1
    step = nice_step(top_value)
    y_max = step * math.ceil(top_value / step)

    def x_of(t: dt.datetime) -> float:
        return LEFT + (width - LEFT - RIGHT) * (t - start).total_seconds() / (end - start).total_seconds()

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * v / y_max

    series: dict[int, Series] = {}
    for count in counts:
        s = series.setdefault(count.source_id, Series(name=count.source.name, shape=SHAPES[len(series) % len(SHAPES)]))
        s.points.append(
            Point(
                x=x_of(count.as_of),
                y=y_of(count.count),
                y_high=y_of(count.count_high) if count.count_high is not None else None,
                label=formats.number_format(count.count, use_l10n=True, force_grouping=True),
                shape=s.shape,
            )
        )
    y_ticks = [
        Tick(position=y_of(i * step), label=formats.number_format(int(i * step), use_l10n=True, force_grouping=True))
        for i in range(int(y_max / step) + 1)
    ]
    x_ticks = [
        Tick(position=x_of(t), label=formats.date_format(t.astimezone(tz), "MONTH_DAY_FORMAT"))
        for t in ((start, end) if start.astimezone(tz).date() != end.astimezone(tz).date() else (start,))
    ]
    return CountChart(
        width=width,
        height=HEIGHT,
        series=list(series.values()),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        plot_right=width - RIGHT,
    )


@dataclass
class Bar:
    x: float
    width: float
    label: str
    certainty: str = ""
    status: str = ""
    number: int = 0
    y: float = 0

    @property
    def is_instant(self) -> bool:
        return self.width < 2


@dataclass
class Timeline:
    """One window on a local-time axis, with the overlaps of flagged reports drawn over it."""

    width: int
    window: Bar
    overlaps: list[Bar]
    ticks: list[Tick]
    height: float = 0

    @property
    def labels_y(self) -> float:
        return self.height - 4


# Horizontal positions are percentages of the drawing's width, so that the timeline
# fills any screen while its text keeps its size; vertical ones are pixels.
TIMELINE_WIDTH = 100
# The window's bar, then one lane per flagged report, so that overlaps never hide each other.
BAR_HEIGHT, LANE_HEIGHT, AXIS_HEIGHT = 16, 14, 18


def window_timeline(starts_at: dt.datetime, ends_at: dt.datetime, zone_name: str, overlaps: Sequence[Any]) -> Timeline:
    """
    The window's local day (two days when it runs past midnight) as an axis with a
    tick every six local hours, the window as a bar, and each flag's overlap over it.
    """
    tz = zone(zone_name)
    first_day = starts_at.astimezone(tz).date()
    last_day = (ends_at - dt.timedelta(microseconds=1)).astimezone(tz).date()
    axis_start = dt.datetime.combine(first_day, dt.time(0), tz).astimezone(dt.UTC)
    axis_end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
    span = (axis_end - axis_start).total_seconds()

    def x_of(t: dt.datetime) -> float:
        clipped = min(max(t, axis_start), axis_end)
        return TIMELINE_WIDTH * (clipped - axis_start).total_seconds() / span

    ticks = []
    day = first_day
    while day <= last_day:
        for hour in (0, 6, 12, 18):
            local = dt.datetime.combine(day, dt.time(hour), tz)
            ticks.append(Tick(position=x_of(local.astimezone(dt.UTC)), label=f"{hour:02d}:00"))
        day += dt.timedelta(days=1)
    ticks.append(Tick(position=TIMELINE_WIDTH, label="24:00"))
    window = Bar(x=x_of(starts_at), width=x_of(ends_at) - x_of(starts_at), label="", y=0)
    bars = [
        Bar(
            x=x_of(flag.overlap_start),
            width=x_of(flag.overlap_end) - x_of(flag.overlap_start),
            label=flag.hostility.get_kind_display(),
            certainty=flag.certainty,
            status=flag.status,
            number=number,
            y=BAR_HEIGHT + 4 + (number - 1) * LANE_HEIGHT,
        )
        for number, flag in enumerate(overlaps, start=1)
    ]
    height = BAR_HEIGHT + 4 + len(bars) * LANE_HEIGHT + AXIS_HEIGHT
    return Timeline(width=TIMELINE_WIDTH, window=window, overlaps=bars, ticks=ticks, height=height)
