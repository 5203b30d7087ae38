"""
Property: for random site trees, corridors, schedules and reports — and after random
edits of them through the services — the flags the engine keeps are exactly those a
brute-force oracle finds. The oracle below is written from docs/design.md alone and shares
no code with the engine: it walks the site tree by hand, finds local midnights by
scanning quarter-hours, and compares intervals pairwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from corridors import flagging
from corridors import services as corridor_services
from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, Flag
from corridors.schedule import ScheduleError, expand_schedule
from tests import factories
from tracker import services as tracker_services
from tracker.models import HostilityReport, Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC
ZONES = ["Europe/Kyiv", "UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]
# Around both of Kyiv's DST changes of 2022, and an ordinary week.
BASES = [
    dt.datetime(2022, 3, 25, tzinfo=UTC),
    dt.datetime(2022, 5, 4, tzinfo=UTC),
    dt.datetime(2022, 10, 28, tzinfo=UTC),
]
QUARTER = dt.timedelta(minutes=15)
CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) runs the suite on PostgreSQL and on SQLite:
# 2 x 2,500 worlds for the engine itself and 2 x 156 for the slower walk through the
# services, about a minute and a half on PostgreSQL and 40 s on SQLite. Fewer when run
# by hand.
ENGINE_EXAMPLES = int(os.environ.get("FLAG_PROPERTY_EXAMPLES", 2500 if CI else 150))
SERVICE_EXAMPLES = max(ENGINE_EXAMPLES // 16, 10)


# --- The oracle ------------------------------------------------------------------


@functools.cache
def local_midnight(day: dt.date, zone: str) -> dt.datetime:
    """The first instant whose local date is `day`: scan quarter-hours (every zone here changes on one)."""
    tz = zoneinfo.ZoneInfo(zone)
    t = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) - dt.timedelta(days=1)
    while t.astimezone(tz).date() < day:
        t += QUARTER
    return t


def local_hour_floor(t: dt.datetime, zone: str) -> dt.datetime:
    local = t.astimezone(zoneinfo.ZoneInfo(zone))
    return t - dt.timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)


def oracle_coverage(report):
    """(start, end or None, is_instant) by docs/design.md "Time" rule 5."""
    start, end, zone = report["started_at"], report["ended_at"], report["zone"]
    if report["precision"] == "exact":
        if end is None:
            return (start, None, False) if report["ongoing"] else (start, start, True)
        return start, end, False
    if report["precision"] == "hour":
        first = local_hour_floor(start, zone)
        if end is None:
            return (first, None, False) if report["ongoing"] else (first, first + dt.timedelta(hours=1), False)
        last = local_hour_floor(end, zone)
        return first, (end if last == end else last + dt.timedelta(hours=1)), False
    tz = zoneinfo.ZoneInfo(zone)
    first = local_midnight(start.astimezone(tz).date(), zone)
    if end is None:
        if report["ongoing"]:
            return first, None, False
        return first, local_midnight(start.astimezone(tz).date() + dt.timedelta(days=1), zone), False
    last = local_midnight(end.astimezone(tz).date(), zone)
    return (
        first,
        (end if last == end else local_midnight(end.astimezone(tz).date() + dt.timedelta(days=1), zone)),
        False,
    )


def ancestors_and_self(site, parents):
    chain = [site]
    while parents[chain[-1]] is not None:
        assert parents[chain[-1]] not in chain, f"the site tree has a cycle: {parents}"
        chain.append(parents[chain[-1]])
    return chain


def oracle_flags(parents, corridors, windows, reports):
    """{(window, report): (start, end, certainty)} for every pair that should have a live flag."""
    expected = {}
    for w in windows:
        if w["cancelled"]:
            continue
        path = corridors[w["corridor"]]
        for r in reports:
            if r["retracted"]:
                continue
            site_chain = ancestors_and_self(r["site"], parents)
            touches = any(p in site_chain or r["site"] in ancestors_and_self(p, parents) for p in path)
            if not touches:
                continue
            start, end, instant = oracle_coverage(r)
            if instant:
                hit = w["start"] <= start < w["end"]
                clipped = (start, start)
            else:
                hit = start < w["end"] and (end is None or end > w["start"])
                clipped = (max(start, w["start"]), w["end"] if end is None else min(end, w["end"]))
            if hit:
                expected[(w["id"], r["id"])] = (*clipped, "confirmed" if r["precision"] == "exact" else "possible")
    return expected


# --- The data ----------------------------------------------------------------------


@st.composite
def worlds(draw):
    n_sites = draw(st.integers(2, 7))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, n_sites)]
    zones = [draw(st.sampled_from(ZONES)) for _ in range(n_sites)]
    base = draw(st.sampled_from(BASES))
    corridors = []
    for _ in range(draw(st.integers(1, 3))):
        origin = draw(st.integers(0, n_sites - 1))
        destination = draw(st.integers(0, n_sites - 1).filter(lambda d, o=origin: d != o))
        waypoints = draw(st.lists(st.integers(0, n_sites - 1), max_size=2, unique=True))
        schedule = {
            "local_start": dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
            "local_end": dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
            "first_date": (base + dt.timedelta(days=draw(st.integers(0, 2)))).date(),
            "days": draw(st.integers(1, 3)),
        }
        corridors.append({"origin": origin, "destination": destination, "waypoints": waypoints, "schedule": schedule})
    reports = [draw(report_fields(n_sites, base)) for _ in range(draw(st.integers(1, 10)))]
    edits = draw(st.lists(edit(n_sites, base), max_size=4))
    return {"parents": parents, "zones": zones, "corridors": corridors, "reports": reports, "edits": edits}


@st.composite
def report_fields(draw, n_sites, base):
    start = (
        base
        + draw(st.integers(0, 4 * 24 * 4)) * QUARTER
        + draw(st.sampled_from([dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(minutes=7)]))
    )
    ongoing = draw(st.booleans())
    ended = None if ongoing or draw(st.booleans()) else start + draw(st.integers(1, 3 * 24 * 4)) * QUARTER
    return {
        "site": draw(st.integers(0, n_sites - 1)),
        "started_at": start,
        "ended_at": ended,
        "ongoing": ongoing,
        "time_precision": draw(st.sampled_from(["exact", "hour", "day"])),
        "verification": draw(st.sampled_from(["unverified", "verified", "disputed", "retracted"])),
    }


def edit(n_sites, base):
    return st.one_of(
        st.tuples(st.just("report"), st.integers(0, 9), report_fields(n_sites, base)),
        st.tuples(st.just("cancel"), st.integers(0, 8), st.booleans()),
        st.tuples(st.just("move"), st.integers(0, n_sites - 1), st.one_of(st.none(), st.integers(0, n_sites - 1))),
        st.tuples(
            st.just("waypoints"), st.integers(0, 2), st.lists(st.integers(0, n_sites - 1), max_size=2, unique=True)
        ),
    )


def snapshot():
    """What the database says, in the oracle's terms."""
    sites = list(Site.objects.values_list("id", "parent_id", "timezone"))
    parents = {pk: parent for pk, parent, _ in sites}
    zones = {pk: zone for pk, _, zone in sites}
    corridors = {}
    for corridor in Corridor.objects.all():
        corridors[corridor.pk] = corridor.path_site_ids()
    windows = [
        {"id": w.pk, "corridor": w.corridor_id, "start": w.starts_at, "end": w.ends_at, "cancelled": w.cancelled}
        for w in CorridorWindow.objects.all()
    ]
    reports = [
        {
            "id": r.pk,
            "site": r.site_id,
            "zone": zones[r.site_id],
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "ongoing": r.ongoing,
            "precision": r.time_precision,
            "retracted": r.verification == "retracted",
        }
        for r in HostilityReport.objects.all()
    ]
    return oracle_flags(parents, corridors, windows, reports)


def live_flags():
    return {
        (f.window_id, f.hostility_id): (f.overlap_start, f.overlap_end, f.certainty)
        for f in Flag.objects.filter(status="open")
    }


def all_flag_rows():
    return sorted(
        Flag.objects.values_list("window", "hostility", "overlap_start", "overlap_end", "certainty", "status")
    )


@pytest.fixture
def source(db):
    return factories.SourceFactory()


HYPOTHESIS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
LATER = dt.datetime(2023, 1, 1, tzinfo=UTC)


def build(world, source):
    """The world's sites, corridors and windows, written straight to the database, in bulk."""
    sites = Site.objects.bulk_create(
        [
            Site(name=f"s{i}", kind="city", latitude=0, longitude=0, timezone=zone)
            for i, zone in enumerate(world["zones"])
        ]
    )
    for site, parent in zip(sites, world["parents"], strict=True):
        site.parent = None if parent is None else sites[parent]
    Site.objects.bulk_update(sites, ["parent"])
    corridors = Corridor.objects.bulk_create(
        [Corridor(name="c", origin=sites[c["origin"]], destination=sites[c["destination"]]) for c in world["corridors"]]
    )
    CorridorWaypoint.objects.bulk_create(
        [
            CorridorWaypoint(corridor=corridor, site=sites[waypoint], position=position)
            for corridor, spec in zip(corridors, world["corridors"], strict=True)
            for position, waypoint in enumerate(spec["waypoints"], start=1)
        ]
    )
    windows = []
    for corridor, spec in zip(corridors, world["corridors"], strict=True):
        try:
            intervals = expand_schedule(zone_name=corridor.origin.timezone, **spec["schedule"])
        except ScheduleError:
            intervals = []
        windows += [CorridorWindow(corridor=corridor, starts_at=start, ends_at=end) for start, end in intervals]
    return sites, corridors, CorridorWindow.objects.bulk_create(windows)


@settings(max_examples=ENGINE_EXAMPLES, **HYPOTHESIS)
@given(world=worlds())
def test_the_engine_keeps_exactly_the_flags_the_oracle_finds(world, source):
    """Reports written in bulk (no task ran); then the report-side check, then the window-side one."""
    with transaction.atomic():
        sites, _, windows = build(world, source)
        assume(windows)
        reports = [
            HostilityReport(kind="shelling", source=source, **{**fields, "site": sites[fields["site"]]})
            for fields in world["reports"]
        ]
        for report in reports:
            report.coverage_start, report.coverage_end = report.coverage().index_bounds()
        reports = HostilityReport.objects.bulk_create(reports)
        flagging.flags_check_reports(report_ids=[r.pk for r in reports], now=LATER)
        assert live_flags() == snapshot()
        before = all_flag_rows()
        assert not flagging.flags_reconcile_all(now=LATER, batch_size=2)
        assert all_flag_rows() == before
        transaction.set_rollback(True)


@settings(max_examples=SERVICE_EXAMPLES, **HYPOTHESIS)
@given(world=worlds())
def test_the_services_keep_exactly_the_flags_the_oracle_finds_through_edits(
    world, dave, source, django_capture_on_commit_callbacks
):
    """Reports saved and things edited through the services, each change's check run at its commit."""
    with transaction.atomic():
        sites, corridors, windows = build(world, source)
        assume(windows)
        reports = []
        with django_capture_on_commit_callbacks(execute=True):
            for fields in world["reports"]:
                report = HostilityReport(kind="shelling", source=source, **{**fields, "site": sites[fields["site"]]})
                reports.append(tracker_services.hostility_report_save(report=report, user=dave))
        assert live_flags() == snapshot()

        for kind, index, value in world["edits"]:
            with django_capture_on_commit_callbacks(execute=True):
                if kind == "report" and index < len(reports):
                    report = reports[index]
                    for name, field_value in value.items():
                        setattr(report, name, sites[field_value] if name == "site" else field_value)
                    tracker_services.hostility_report_save(report=report, user=dave)
                elif kind == "cancel" and index < len(windows):
                    window = CorridorWindow.objects.get(pk=windows[index].pk)
                    window.cancelled = value
                    with contextlib.suppress(ValidationError):  # uncancelled onto a live window: refused
                        corridor_services.window_save(window=window, user=dave)
                elif kind == "move":
                    site = Site.objects.get(pk=sites[index].pk)
                    site.parent = None if value is None else sites[value]
                    with contextlib.suppress(ValidationError):  # inside itself: refused
                        tracker_services.site_save(site=site, user=dave)
                elif kind == "waypoints" and index < len(corridors):
                    corridor_services.corridor_set_waypoints(
                        corridor=corridors[index], user=dave, waypoints=[sites[i] for i in value]
                    )
            assert live_flags() == snapshot(), f"after {kind} {index} {value}"
        assert not Flag.objects.exclude(status__in=["open", "withdrawn"]).exists()
        transaction.set_rollback(True)
