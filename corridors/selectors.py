"""
Read queries for the dashboard and the staff pages: corridors, their windows and
flags, departures and arrivals.

Each function runs a fixed number of queries whatever the amount of data (the page
tests count them). Nothing here writes; writes are in services.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import RowNumber

from corridors.models import Arrival, Corridor, CorridorWaypoint, CorridorWindow, Departure, Flag, FlagCheck
from tracker.models import Qualifier, Site, Verification

# On the overview: a corridor's current and coming windows, or its latest ones when none are to come.
UPCOMING_PER_CORRIDOR = 5
RECENT_PER_CORRIDOR = 3


def combine_qualifiers(qualifiers: Iterable[str]) -> str:
    """
    The qualifier of a sum: exact only if every part is; "at least 100" plus "exactly
    20" is at least 120 (likewise "at most"); anything else mixed is an estimate.
    """
    kinds = set(qualifiers)
    if kinds <= {Qualifier.EXACT}:
        return Qualifier.EXACT
    for bound in (Qualifier.AT_LEAST, Qualifier.AT_MOST):
        if kinds <= {Qualifier.EXACT, bound}:
            return bound
    return Qualifier.APPROXIMATELY


@dataclass(frozen=True)
class Total:
    """A sum of departures or arrivals with the qualifier the sum deserves."""

    count: int
    qualifier: str
    # Checkpoint and border figures count crossings, not distinct people.
    crossings: bool = False


@dataclass
class WindowTotals:
    """People who left through a window and people who arrived from it, side by side."""

    departed: Total | None = None
    arrived: Total | None = None

    @property
    def gap(self) -> int | None:
        """Left minus arrived: people not (yet) accounted for; negative when more arrived than were counted leaving."""
        if self.departed is None or self.arrived is None:
            return None
        return self.departed.count - self.arrived.count

    @property
    def gap_is_estimate(self) -> bool:
        parts = (self.departed, self.arrived)
        return any(p is not None and (p.qualifier != Qualifier.EXACT or p.crossings) for p in parts)


def open_flag_counts(window_ids: Iterable[int]) -> dict[int, int]:
    """How many open or acknowledged flags each window has (absent: none). One query."""
    rows = (
        Flag.objects.filter(window_id__in=list(window_ids), status__in=Flag.ACTIVE_STATUSES)
        .values("window_id")
        .annotate(n=Count("id"))
        .values_list("window_id", "n")
    )
    return dict(rows)


def _total(rows: Sequence[tuple[int, str]], *, crossings: bool = False) -> Total:
    return Total(
        count=sum(count for count, _ in rows), qualifier=combine_qualifiers(q for _, q in rows), crossings=crossings
    )


def window_totals(window_ids: Iterable[int]) -> dict[int, WindowTotals]:
    """Departures and arrivals linked to each window, summed; retracted figures are left out. Two queries."""
    ids = list(set(window_ids))
    # Plain rows, not model instances: only three or four columns of each are needed.
    departures: dict[int, list[tuple[int, str]]] = {}
    arrivals: dict[int, list[tuple[int, str]]] = {}
    at_crossing: set[int] = set()
    for window_id, count, qualifier in (
        Departure.objects.filter(window_id__in=ids)
        .exclude(verification=Verification.RETRACTED)
        .order_by()
        .values_list("window_id", "count", "qualifier")
    ):
        departures.setdefault(window_id, []).append((count, qualifier))
    # Whether the destination is a crossing as a subquery: a join to the sites was planned
    # as a hash of every site, however few the arrivals.
    at_a_crossing = Exists(Site.objects.filter(pk=OuterRef("destination_id"), kind=Site.Kind.CROSSING))
    for window_id, count, qualifier, crossing in (
        Arrival.objects.filter(window_id__in=ids)
        .exclude(verification=Verification.RETRACTED)
        .order_by()
        .values_list("window_id", "count", "qualifier", at_a_crossing)
    ):
        arrivals.setdefault(window_id, []).append((count, qualifier))
        if crossing:
            at_crossing.add(window_id)
    totals: dict[int, WindowTotals] = {}
    for pk in ids:
        dep_rows, arr_rows = departures.get(pk), arrivals.get(pk)
        if not dep_rows and not arr_rows:
            continue
        totals[pk] = WindowTotals(
            departed=_total(dep_rows) if dep_rows else None,
            arrived=_total(arr_rows, crossings=pk in at_crossing) if arr_rows else None,
        )
    return totals


@dataclass
class CorridorSummary:
    corridor: Corridor
    path: list[Site]
    windows: list[CorridorWindow] = field(default_factory=list)
    # True: current and coming windows; False: none are to come, these are the latest.
    upcoming: bool = True


def corridor_paths(corridors: Sequence[Corridor]) -> dict[int, list[Site]]:
    """Origin, waypoints in order, destination of each corridor (origin and destination already loaded). One query."""
    waypoints: dict[int, list[Site]] = {}
    for wp in (
        CorridorWaypoint.objects.filter(corridor__in=corridors)
        .select_related("site")
        .order_by("corridor_id", "position")
    ):
        waypoints.setdefault(wp.corridor_id, []).append(wp.site)
    return {c.pk: [c.origin, *waypoints.get(c.pk, []), c.destination] for c in corridors}


def _attach(
    windows: Iterable[CorridorWindow], corridors: Mapping[int, Corridor], totals: dict[int, WindowTotals]
) -> None:
    """Give each window its already loaded corridor (for local times) and its totals, without more queries."""
    for window in windows:
        window.corridor = corridors[window.corridor_id]
        window.totals = totals.get(window.pk, WindowTotals())  # type: ignore[attr-defined]


def attach_totals(windows: Sequence[CorridorWindow]) -> None:
    """Each window's departure and arrival totals, as `totals`. Two queries, however many windows."""
    totals = window_totals(w.pk for w in windows)
    for window in windows:
        window.totals = totals.get(window.pk, WindowTotals())  # type: ignore[attr-defined]


def corridors_for_overview(now: dt.datetime, *, limit: int = 30, totals: bool = True) -> list[CorridorSummary]:
    """
    The corridors still in use first (closed ones last), each with its current and
    coming windows or, when none are to come, its latest ones; flag counts and (unless
    `totals` is false: attach_totals() then) departure/arrival totals attached, and each
    window's `state` and `minutes_left` at `now`. Six queries, each reading only the
    corridors shown.
    """
    is_closed = Case(When(status=Corridor.Status.CLOSED, then=Value(1)), default=Value(0))
    shown = Corridor.objects.annotate(is_closed=is_closed).order_by("is_closed", "name", "id").values("pk")[:limit]
    corridors = list(
        Corridor.objects.filter(pk__in=Subquery(shown))
        .select_related("origin", "destination", "announced_by")
        .annotate(is_closed=is_closed)
        .order_by("is_closed", "name", "id")
    )
    # A query of its own: as a subquery of the one above, it was planned as a scan of every flag per corridor.
    flag_counts = dict(
        Flag.objects.filter(window__corridor__in=corridors, status__in=Flag.ACTIVE_STATUSES)
        .order_by()
        .values("window__corridor")
        .annotate(n=Count("pk"))
        .values_list("window__corridor", "n")
    )
    for corridor in corridors:
        corridor.open_flags = flag_counts.get(corridor.pk, 0)  # type: ignore[attr-defined]
    by_id = {c.pk: c for c in corridors}
    paths = corridor_paths(corridors)
    base = CorridorWindow.objects.filter(corridor_id__in=list(by_id)).with_flag_counts()
    upcoming = list(
        base.filter(ends_at__gt=now)
        .annotate(rank=Window(RowNumber(), partition_by=[F("corridor_id")], order_by=[F("starts_at"), F("id")]))
        .filter(rank__lte=UPCOMING_PER_CORRIDOR)
        .order_by("starts_at", "id")
    )
    with_upcoming = {w.corridor_id for w in upcoming}
    recent = list(
        base.filter(ends_at__lte=now)
        .exclude(corridor_id__in=with_upcoming)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("corridor_id")], order_by=[F("starts_at").desc(), F("id").desc()])
        )
        .filter(rank__lte=RECENT_PER_CORRIDOR)
        .order_by("starts_at", "id")
    )
    windows = upcoming + recent
    for window in windows:
        window.corridor = by_id[window.corridor_id]  # loaded already, for local times
    if totals:
        attach_totals(windows)
    for window in windows:
        # What the clock makes of each window, on the window: the overview keeps each card
        # while what it shows is the same (tracker/templatetags/fragments.py), and so
        # must not read the clock itself.
        state = window.status_at(now)
        window.state = state  # type: ignore[attr-defined]
        minutes_left = window.minutes_left_at(now) if state == CorridorWindow.Status.OPEN else None
        window.minutes_left = minutes_left  # type: ignore[attr-defined]
    summaries = {c.pk: CorridorSummary(corridor=c, path=paths[c.pk], upcoming=c.pk in with_upcoming) for c in corridors}
    for window in windows:
        summaries[window.corridor_id].windows.append(window)
    return list(summaries.values())


def next_window_change(windows: Iterable[CorridorWindow], now: dt.datetime) -> dt.datetime | None:
    """The next time one of these windows opens or closes: a page showing their state must not be kept past it."""
    return min((t for w in windows for t in (w.starts_at, w.ends_at) if t > now), default=None)


def corridor_for_page(pk: int) -> Corridor:
    return (
        Corridor.objects.select_related("origin", "destination", "announced_by", "organisation")
        .annotate(open_flags=Count("windows__flags", filter=Q(windows__flags__status__in=Flag.ACTIVE_STATUSES)))
        .get(pk=pk)
    )


def corridor_windows(corridor: Corridor) -> list[CorridorWindow]:
    """Every window of the corridor in time order, with flag counts and totals. Three queries."""
    windows = list(CorridorWindow.objects.filter(corridor=corridor).with_flag_counts().order_by("starts_at", "id"))
    _attach(windows, {corridor.pk: corridor}, window_totals(w.pk for w in windows))
    return windows


def _flags_with_context() -> QuerySet[Flag]:
    return Flag.objects.select_related(
        "window__corridor__origin", "hostility__site", "hostility__source", "reviewed_by__organisation"
    )


def corridor_flags(corridor: Corridor) -> dict[int, list[Flag]]:
    """The corridor's flags by window id, in order of their overlap. One query."""
    flags: dict[int, list[Flag]] = {}
    for flag in _flags_with_context().filter(window__corridor=corridor).order_by("overlap_start", "id"):
        flags.setdefault(flag.window_id, []).append(flag)
    return flags


def flags_for_feed() -> QuerySet[Flag]:
    """Flags with what their feed entry names: the report's site and source, the window's corridor and origin."""
    return Flag.objects.select_related(
        "window__corridor__origin", "hostility__site", "hostility__source", "reviewed_by"
    )


def flag_queue() -> QuerySet[Flag]:
    """Open flags for review, oldest first."""
    return _flags_with_context().filter(status=Flag.Status.OPEN).order_by("raised_at", "id")


def report_flags(report_id: int) -> tuple[bool, list[Flag]]:
    """
    What a reporter is told after saving a hostility report: whether its flag check is
    still pending (its outbox marker is there until the check ran: at once in the
    embedded mode, in a worker in production), and the flags it holds now. Two queries.
    """
    pending = FlagCheck.objects.filter(target=FlagCheck.Target.REPORT, target_id=report_id).exists()
    flags = (
        Flag.objects.filter(hostility_id=report_id, status__in=Flag.ACTIVE_STATUSES)
        .select_related("window__corridor__origin")
        .order_by("window__starts_at", "window_id")
    )
    return pending, list(flags)


def latest_movement_time() -> dt.datetime | None:
    """The time of the newest departure or arrival, retracted ones aside. Two queries."""
    live = ~Q(verification=Verification.RETRACTED)
    times = [
        Departure.objects.filter(live).aggregate(t=Max("departed_at"))["t"],
        Arrival.objects.filter(live).aggregate(t=Max("arrived_at"))["t"],
    ]
    return max((t for t in times if t is not None), default=None)


def recent_movements(*, limit: int = 10) -> list[Departure | Arrival]:
    """The latest departures and arrivals together, newest first. Two queries."""
    related = ("origin", "source", "window__corridor__origin", "corridor")
    departures = list(Departure.objects.select_related(*related).order_by("-departed_at", "-id")[:limit])
    arrivals = list(Arrival.objects.select_related(*related, "destination").order_by("-arrived_at", "-id")[:limit])
    rows: list[Departure | Arrival] = [*departures, *arrivals]
    rows.sort(key=lambda m: m.departed_at if isinstance(m, Departure) else m.arrived_at, reverse=True)
    return rows[:limit]


def windows_with_movements(*, limit: int = 10, totals: bool = True) -> list[CorridorWindow]:
    """
    The latest windows that departures or arrivals were linked to, with their totals
    (unless `totals` is false: attach_totals() then). Three queries.
    """
    linked = Q(id__in=Departure.objects.filter(window__isnull=False).values("window_id")) | Q(
        id__in=Arrival.objects.filter(window__isnull=False).values("window_id")
    )
    windows = list(
        CorridorWindow.objects.filter(linked)
        .select_related("corridor__origin", "corridor__destination")
        .order_by("-starts_at", "-id")[:limit]
    )
    if totals:
        attach_totals(windows)
    return windows


@dataclass(frozen=True)
class CorridorWindowState:
    """How many windows a corridor has, and how many of them are flagged (an open or acknowledged flag)."""

    windows: int = 0
    flagged_windows: int = 0


def corridor_window_states(corridor_ids: Iterable[int]) -> dict[int, CorridorWindowState]:
    """Each corridor's count of windows and of flagged windows, by id: one query."""
    active = Flag.objects.filter(window=OuterRef("pk"), status__in=Flag.ACTIVE_STATUSES)
    rows = (
        CorridorWindow.objects.filter(corridor_id__in=set(corridor_ids))
        .annotate(is_flagged=Exists(active))
        .values("corridor_id")
        .annotate(windows=Count("id"), flagged_windows=Count("id", filter=Q(is_flagged=True)))
        .order_by()
    )
    return {
        row["corridor_id"]: CorridorWindowState(windows=row["windows"], flagged_windows=row["flagged_windows"])
        for row in rows
    }
