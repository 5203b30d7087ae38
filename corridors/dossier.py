"""
A corridor's evidence dossier: everything known about it, to print and hand over, in
a form that can be checked later (docs/design.md, "Flags" and "Figures").

`corridor_dossier()` reads it (a fixed number of queries) and gives both the objects
the page is rendered from and `data`: the same facts as plain, language-independent
values (ids, codes, UTC instants, names), whose SHA-256 over its canonical JSON is the
dossier's **digest**. The digest covers the data, not the moment it was generated nor
the clock-made window states, so the same data always gives the same digest. Each
digest shown is kept with its data (`DossierSnapshot`), so that `changes()` can say
later what the live data says differently.

Public, as every figure is: organisations, never staff accounts; site names, never
positions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model

from corridors import record, selectors
from corridors.models import Arrival, Corridor, CorridorWaypoint, CorridorWindow, Departure, DossierSnapshot, Flag
from corridors.selectors import Total, WindowTotals, combine_qualifiers
from tracker.models import HostilityReport, Site, Verification


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def verified_since(model: type[Model], ids: Iterable[int]) -> dict[int, dt.datetime]:
    """
    When each of these figures was last verified (absent: not verified now), from its
    audit history: the start of its latest stretch as `verified`. One query.
    """
    since: dict[int, dt.datetime] = {}
    history = model.history.model  # type: ignore[attr-defined]
    rows = history.objects.filter(id__in=list(ids)).order_by("history_date", "history_id")
    for pk, at, verification in rows.values_list("id", "history_date", "verification"):
        if verification != Verification.VERIFIED:
            since.pop(pk, None)
        elif pk not in since:
            since[pk] = at
    return since


@dataclass
class WindowEvidence:
    window: CorridorWindow
    state: str
    flags: list[Flag] = field(default_factory=list)  # withdrawn ones aside
    departures: list[Departure] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)

    @property
    def counting(self) -> list[Flag]:
        return [f for f in self.flags if f.status in Flag.ACTIVE_STATUSES]

    @property
    def outcome(self) -> str:
        return record.window_outcome([f.certainty for f in self.counting])

    @property
    def totals(self) -> WindowTotals:
        """Left and arrived, retracted figures aside (as selectors.window_totals() sums them)."""
        departed = [d for d in self.departures if d.verification != Verification.RETRACTED]
        arrived = [a for a in self.arrivals if a.verification != Verification.RETRACTED]
        return WindowTotals(
            departed=Total(sum(d.count for d in departed), combine_qualifiers(d.qualifier for d in departed))
            if departed
            else None,
            arrived=Total(
                sum(a.count for a in arrived),
                combine_qualifiers(a.qualifier for a in arrived),
                crossings=any(a.destination.kind == Site.Kind.CROSSING for a in arrived),
            )
            if arrived
            else None,
        )


@dataclass
class Dossier:
    corridor: Corridor
    path: list[Site]
    windows: list[WindowEvidence]
    # Departures and arrivals given for the corridor without a window.
    departures: list[Departure]
    arrivals: list[Arrival]
    verified_at: dict[tuple[str, int], dt.datetime]
    now: dt.datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    def verified_at_of(self, obj: Model) -> dt.datetime | None:
        return self.verified_at.get((obj._meta.model_name or "", obj.pk))


def digest_of(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def corridor_dossier(pk: int, *, now: dt.datetime) -> Dossier:
    """The dossier of corridor `pk` (Corridor.DoesNotExist if none). Eleven queries, whatever its size."""
    corridor = Corridor.objects.select_related("origin", "destination", "announced_by", "organisation").get(pk=pk)
    waypoints = [
        wp.site for wp in CorridorWaypoint.objects.filter(corridor=corridor).select_related("site").order_by("position")
    ]
    windows = {}
    for window in CorridorWindow.objects.filter(corridor=corridor).order_by("starts_at", "id"):
        window.corridor = corridor
        windows[window.pk] = WindowEvidence(window=window, state=window.status_at(now))
    flags = (
        Flag.objects.filter(window__corridor=corridor)
        .exclude(status=Flag.Status.WITHDRAWN)
        .select_related("hostility__site", "hostility__source", "hostility__organisation", "reviewed_by__organisation")
        .order_by("overlap_start", "id")
    )
    for flag in flags:
        flag.window = windows[flag.window_id].window
        windows[flag.window_id].flags.append(flag)
    movement_related = ("origin", "source", "organisation")
    departures = list(
        Departure.objects.filter(corridor=corridor).select_related(*movement_related).order_by("departed_at", "id")
    )
    arrivals = list(
        Arrival.objects.filter(corridor=corridor)
        .select_related(*movement_related, "destination")
        .order_by("arrived_at", "id")
    )
    unlinked_departures = [d for d in departures if d.window_id not in windows]
    unlinked_arrivals = [a for a in arrivals if a.window_id not in windows]
    for d in departures:
        if d.window_id in windows:
            windows[d.window_id].departures.append(d)
    for a in arrivals:
        if a.window_id in windows:
            windows[a.window_id].arrivals.append(a)
    reports = {f.hostility_id for w in windows.values() for f in w.flags}
    verified_at: dict[tuple[str, int], dt.datetime] = {}
    for model, ids in (
        (Corridor, [corridor.pk]),
        (HostilityReport, reports),
        (Departure, [d.pk for d in departures]),
        (Arrival, [a.pk for a in arrivals]),
    ):
        name = model._meta.model_name or ""
        verified_at.update({(name, pk): at for pk, at in verified_since(model, ids).items()})
    dossier = Dossier(
        corridor=corridor,
        path=[corridor.origin, *waypoints, corridor.destination],
        windows=list(windows.values()),
        departures=unlinked_departures,
        arrivals=unlinked_arrivals,
        verified_at=verified_at,
        now=now,
    )
    dossier.data = data_of(dossier)
    return dossier


def _organisation(obj: Any) -> str | None:
    return obj.organisation.name if obj.organisation is not None else None


def _attribution(dossier: Dossier, obj: Any) -> dict[str, Any]:
    """Who said it, who entered it (the organisation), and how far it is verified since when."""
    values = {
        "verification": obj.verification,
        "organisation": _organisation(obj),
        "verified_at": _instant(dossier.verified_at_of(obj)),
    }
    source = getattr(obj, "source", None)
    if source is not None:
        values["source"] = source.name
        values["reported_at"] = _instant(obj.reported_at)
    return values


def _movement(dossier: Dossier, movement: Departure | Arrival) -> dict[str, Any]:
    values = {
        "count": movement.count,
        "qualifier": movement.qualifier,
        "origin": movement.origin.name,
        "override_reason": movement.override_reason,
        **_attribution(dossier, movement),
    }
    if isinstance(movement, Departure):
        values["departed_at"] = _instant(movement.departed_at)
    else:
        values["arrived_at"] = _instant(movement.arrived_at)
        values["destination"] = movement.destination.name
    return values


def _flag(dossier: Dossier, flag: Flag) -> dict[str, Any]:
    report = flag.hostility
    return {
        "certainty": flag.certainty,
        "status": flag.status,
        "overlap_start": _instant(flag.overlap_start),
        "overlap_end": _instant(flag.overlap_end),
        "reviewed_by": record.reviewer_name(flag) or None,
        "reviewed_at": _instant(flag.reviewed_at),
        "review_note": flag.review_note,
        "report": {
            "id": report.pk,
            "kind": report.kind,
            "site": report.site.name,
            "started_at": _instant(report.started_at),
            "ended_at": _instant(report.ended_at),
            "ongoing": report.ongoing,
            "time_precision": report.time_precision,
            "description": report.description,
            **_attribution(dossier, report),
        },
    }


def data_of(dossier: Dossier) -> dict[str, Any]:
    """What the dossier shows, as plain values: what its digest is made of."""
    corridor = dossier.corridor
    return {
        "corridor": {
            "id": corridor.pk,
            "name": corridor.name,
            "status": corridor.status,
            "path": [site.name for site in dossier.path],
            "timezone": corridor.origin.timezone,
            "announced_by": corridor.announced_by.name if corridor.announced_by else None,
            "announced_at": _instant(corridor.announced_at),
            "ceasefire_announced": corridor.ceasefire_announced,
            **_attribution(dossier, corridor),
        },
        "windows": {
            str(w.window.pk): {
                "starts_at": _instant(w.window.starts_at),
                "ends_at": _instant(w.window.ends_at),
                "cancelled": w.window.cancelled,
                "flags": {str(f.pk): _flag(dossier, f) for f in w.flags},
                "departures": {str(d.pk): _movement(dossier, d) for d in w.departures},
                "arrivals": {str(a.pk): _movement(dossier, a) for a in w.arrivals},
            }
            for w in dossier.windows
        },
        "departures": {str(d.pk): _movement(dossier, d) for d in dossier.departures},
        "arrivals": {str(a.pk): _movement(dossier, a) for a in dossier.arrivals},
    }


def snapshot_keep(dossier: Dossier) -> DossierSnapshot:
    """Keep what a dossier with this digest shows, once: the check of a printed copy compares with it."""
    digest = dossier.digest
    try:
        with transaction.atomic():
            snapshot, _created = DossierSnapshot.objects.get_or_create(
                digest=digest, defaults={"corridor_id": dossier.corridor.pk, "data": dossier.data}
            )
    except IntegrityError:  # another request kept it meanwhile
        snapshot = DossierSnapshot.objects.get(digest=digest)
    return snapshot


@dataclass(frozen=True)
class Change:
    """One value that differs: `path` names where (("windows", "12"), ("flags", "34"), "status")."""

    path: tuple[str, ...]
    before: Any
    after: Any


def _flatten(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, (*path, str(key)))
    elif isinstance(value, list) and value and path and path[-1] != "path":
        for index, item in enumerate(value):
            yield from _flatten(item, (*path, str(index)))
    else:
        yield path, value


MISSING = object()


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """
    Every value that differs between two dossiers' data, in reading order. Something
    added or removed (a window, a flag, a figure) is one change, its whole entry
    before or after; not a change per field of it.
    """
    old, new = dict(_flatten(before)), dict(_flatten(after))
    found: list[Change] = []
    reported: set[tuple[str, ...]] = set()

    def entry(path: tuple[str, ...]) -> tuple[str, ...]:
        """The path of the object a value belongs to: up to the id after a collection's name."""
        for i in range(len(path) - 1, 0, -1):
            if path[i - 1] in ("windows", "flags", "departures", "arrivals") and path[i].isdigit():
                return path[: i + 1]
        return path

    for path in [*old, *(p for p in new if p not in old)]:
        a, b = old.get(path, MISSING), new.get(path, MISSING)
        if a == b:
            continue
        if a is MISSING or b is MISSING:
            whole = entry(path)
            if whole in reported:
                continue
            present_before = any(p[: len(whole)] == whole for p in old)
            present_after = any(p[: len(whole)] == whole for p in new)
            if present_before != present_after:
                reported.add(whole)
                found.append(Change(whole, present_before or None, present_after or None))
                continue
        found.append(Change(path, None if a is MISSING else a, None if b is MISSING else b))
    return found


def live_data(corridor_id: int, *, now: dt.datetime) -> dict[str, Any] | None:
    """What the dossier of this corridor shows now (None when the corridor is gone)."""
    try:
        return corridor_dossier(corridor_id, now=now).data
    except Corridor.DoesNotExist:
        return None


def next_change(dossier: Dossier) -> dt.datetime | None:
    return selectors.next_window_change([w.window for w in dossier.windows], dossier.now)
