"""
The ceasefire record of an announcing source: every corridor it announced, each
window's state and outcome, and the hostility reports that overlapped the windows.

What it says is what the data is: reports overlapping windows in time and place
(docs/design.md, "Flags"). It never says a ceasefire was violated: a report is a
claim by its source, shown with its verification, and an overlap is certain only
when both times are exact.

- A window's **outcome**: `confirmed` when a flag that counts is confirmed (an
  exact-time overlap), else `possible` when one is possible (only the hour or day is
  known), else `none` (no report).
- A flag **counts** while it is open or acknowledged. A dismissed one is shown with
  the reason its reviewer gave, and does not count; a withdrawn one (the report no
  longer overlaps) is left out.
- The **totals** are over the windows that were not cancelled (a cancelled window
  was never meant to be open, and the flag engine flags none).

Four queries, whatever the number of corridors, windows and reports (`source_record`).

The page is cheap at any size (`page_rows`): the totals are over every window, but the
rows it lists are bounded. A window with a report (a flag that counts, or a dismissed
one) or open now has a row of its own; the other windows of a corridor are folded into
one line (their number and dates), and the rows are cut into pages of RECORD_ROWS.
The API lists every window.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.utils.translation import gettext, gettext_lazy, ngettext

from corridors.models import Corridor, CorridorWindow, Flag
from tracker.models import Source, Verification


class Outcome:
    NONE = "none"
    POSSIBLE = "possible"
    CONFIRMED = "confirmed"


def window_outcome(certainties: list[str]) -> str:
    """The outcome of a window from the certainties of the flags that count on it."""
    if Flag.Certainty.CONFIRMED in certainties:
        return Outcome.CONFIRMED
    if Flag.Certainty.POSSIBLE in certainties:
        return Outcome.POSSIBLE
    return Outcome.NONE


@dataclass
class WindowRecord:
    window: CorridorWindow
    state: str
    # The flags that count (open, acknowledged) and the dismissed ones, in order of their overlap.
    counting: list[Flag] = field(default_factory=list)
    dismissed: list[Flag] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return window_outcome([f.certainty for f in self.counting])

    @property
    def confirmed_by_verified(self) -> bool:
        """An exact-time overlap with a report a coordinator verified."""
        return any(
            f.certainty == Flag.Certainty.CONFIRMED and f.hostility.verification == Verification.VERIFIED
            for f in self.counting
        )


@dataclass
class CorridorRecord:
    corridor: Corridor
    windows: list[WindowRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Totals:
    """What the windows of one group of corridors (with or without a ceasefire claim) had reported during them."""

    windows: int  # not cancelled
    cancelled: int
    confirmed: int  # windows with an exact-time overlap
    confirmed_by_verified: int  # of those, with one by a verified report
    possible_only: int  # windows with only possible overlaps
    dismissed_only: int  # windows whose every flag was dismissed
    # Distinct reports that count, by verification state and by their source's name.
    by_verification: dict[str, int]
    by_source: dict[str, int]

    @property
    def none(self) -> int:
        return self.windows - self.confirmed - self.possible_only

    @property
    def reports(self) -> int:
        return sum(self.by_verification.values())


def totals_of(corridors: list[CorridorRecord]) -> Totals:
    windows = [w for c in corridors for w in c.windows]
    live = [w for w in windows if w.state != CorridorWindow.Status.CANCELLED]
    reports = {f.hostility_id: f.hostility for w in live for f in w.counting}
    by_verification = Counter(r.verification for r in reports.values())
    by_source = Counter(r.source.name for r in reports.values())
    return Totals(
        windows=len(live),
        cancelled=len(windows) - len(live),
        confirmed=sum(1 for w in live if w.outcome == Outcome.CONFIRMED),
        confirmed_by_verified=sum(1 for w in live if w.confirmed_by_verified),
        possible_only=sum(1 for w in live if w.outcome == Outcome.POSSIBLE),
        dismissed_only=sum(1 for w in live if w.dismissed and not w.counting),
        by_verification={v: by_verification[v] for v in Verification.values if by_verification[v]},
        by_source=dict(sorted(by_source.items(), key=lambda item: (-item[1], item[0]))),
    )


@dataclass
class SourceRecord:
    source: Source
    corridors: list[CorridorRecord]
    now: dt.datetime

    @property
    def with_ceasefire(self) -> list[CorridorRecord]:
        return [c for c in self.corridors if c.corridor.ceasefire_announced]

    @property
    def without_ceasefire(self) -> list[CorridorRecord]:
        return [c for c in self.corridors if not c.corridor.ceasefire_announced]

    def ceasefire_totals(self) -> Totals:
        return totals_of(self.with_ceasefire)

    def other_totals(self) -> Totals:
        return totals_of(self.without_ceasefire)

    def window_ids(self) -> list[int]:
        return [w.window.pk for c in self.corridors for w in c.windows]


# The rows of the record's page, at most: a window's, a corridor's folded windows, or "no windows".
RECORD_ROWS = 100


@dataclass(frozen=True)
class Folded:
    """A corridor's windows with no report overlapping them and not open now, in one line."""

    count: int
    cancelled: int
    scheduled: int
    first: CorridorWindow
    last: CorridorWindow


@dataclass
class CorridorPart:
    """A corridor's rows on one page of the record: a part of them when it spans pages."""

    record: CorridorRecord
    windows: list[WindowRecord] = field(default_factory=list)
    folded: Folded | None = None
    continued: bool = False  # rows of it are on the page before

    @property
    def corridor(self) -> Corridor:
        return self.record.corridor


@dataclass(frozen=True)
class Row:
    """One row of the record's page: a window, a corridor's folded windows, or (None) "no windows"."""

    corridor: CorridorRecord
    item: WindowRecord | Folded | None
    index: int  # within its corridor's rows


def listed_in_full(window: WindowRecord) -> bool:
    return bool(window.counting or window.dismissed) or window.state == CorridorWindow.Status.OPEN


def page_rows(corridors: list[CorridorRecord]) -> list[Row]:
    """The rows of the record's page for these corridors: each corridor's listed windows, then its folded line."""
    rows: list[Row] = []
    for corridor in corridors:
        items: list[WindowRecord | Folded | None] = [w for w in corridor.windows if listed_in_full(w)]
        rest = [w for w in corridor.windows if not listed_in_full(w)]
        if rest:
            states = Counter(w.state for w in rest)
            items.append(
                Folded(
                    count=len(rest),
                    cancelled=states[CorridorWindow.Status.CANCELLED],
                    scheduled=states[CorridorWindow.Status.SCHEDULED],
                    first=rest[0].window,
                    last=rest[-1].window,
                )
            )
        rows += [Row(corridor, item, i) for i, item in enumerate(items or [None])]
    return rows


def corridor_parts(rows: list[Row]) -> list[CorridorPart]:
    """The rows of one page, by corridor (`continued` when the corridor's rows began on an earlier page)."""
    parts: list[CorridorPart] = []
    for row in rows:
        if not parts or parts[-1].record is not row.corridor:
            parts.append(CorridorPart(record=row.corridor, continued=row.index > 0))
        if isinstance(row.item, WindowRecord):
            parts[-1].windows.append(row.item)
        elif isinstance(row.item, Folded):
            parts[-1].folded = row.item
    return parts


def source_record(source_id: int, *, now: dt.datetime) -> SourceRecord:
    """
    The record of the source `source_id` (Source.DoesNotExist if there is none) at
    `now`. Four queries: the source, its corridors, their windows, their flags.
    """
    source = Source.objects.get(pk=source_id)
    corridors = list(
        Corridor.objects.filter(announced_by_id=source_id)
        .select_related("origin", "destination")
        .order_by("announced_at", "name", "id")
    )
    for corridor in corridors:
        corridor.announced_by = source  # loaded already
    by_id = {c.pk: CorridorRecord(corridor=c) for c in corridors}
    windows: dict[int, WindowRecord] = {}
    for window in CorridorWindow.objects.filter(corridor__announced_by_id=source_id).order_by("starts_at", "id"):
        window.corridor = by_id[window.corridor_id].corridor  # loaded already, for local times
        record = WindowRecord(window=window, state=window.status_at(now))
        windows[window.pk] = record
        by_id[window.corridor_id].windows.append(record)
    flags = (
        Flag.objects.filter(window__corridor__announced_by_id=source_id)
        .exclude(status=Flag.Status.WITHDRAWN)
        .select_related("hostility__site", "hostility__source", "reviewed_by__organisation")
        .order_by("overlap_start", "id")
    )
    for flag in flags:
        record = windows[flag.window_id]
        flag.window = record.window
        (record.dismissed if flag.status == Flag.Status.DISMISSED else record.counting).append(flag)
    return SourceRecord(source=source, corridors=list(by_id.values()), now=now)


def reviewer_name(flag: Flag) -> str:
    """Who reviewed a flag, as the public may know it: the organisation, never the person."""
    reviewer = flag.reviewed_by
    if reviewer is None or reviewer.organisation is None:
        return ""
    return reviewer.organisation.name


def totals_sentence(totals: Totals, *, ceasefire: bool) -> str:
    """
    The totals in words that say what the data is, reports overlapping windows, and
    no more: "12 windows announced with a ceasefire; hostilities with an exact-time
    overlap were reported during 7 of them (3 by verified reports); 2 more only possibly."
    """
    n = totals.windows
    if ceasefire:
        announced = ngettext(
            "%(n)s window announced with a ceasefire", "%(n)s windows announced with a ceasefire", n
        ) % {"n": n}
    else:
        announced = ngettext(
            "%(n)s window announced without a ceasefire claim", "%(n)s windows announced without a ceasefire claim", n
        ) % {"n": n}
    if n == 0:
        return announced + "."
    confirmed = ngettext(
        "hostilities with an exact-time overlap were reported during %(confirmed)s of them "
        "(%(verified)s by a verified report)",
        "hostilities with an exact-time overlap were reported during %(confirmed)s of them "
        "(%(verified)s by verified reports)",
        totals.confirmed_by_verified,
    ) % {"confirmed": totals.confirmed, "verified": totals.confirmed_by_verified}
    possible = gettext("%(possible)s more only possibly") % {"possible": totals.possible_only}
    return f"{announced}; {confirmed}; {possible}."


OUTCOME_LABELS = {
    Outcome.NONE: gettext_lazy("No report overlapping it"),
    Outcome.POSSIBLE: gettext_lazy("Possible overlap only (the hour or day of a report is known, not its time)"),
    Outcome.CONFIRMED: gettext_lazy("Hostilities reported with an exact-time overlap"),
}
