"""
The data set of the benchmarks of the REST API (bench/api.py) and of the public pages
(bench/public.py), written with COPY: 10,000 sites in a tree, 100,000 civilian counts, 500
corridors with 10,000 windows, hostility reports, flags, departures and arrivals
(numbers: `describe()`). `build(counts=..., reports=...)` makes a larger one with the same
shape; the same seed gives the same rows.

Importing it needs Django set up on the benchmark's database (the scripts do that first).
"""

from __future__ import annotations

import datetime as dt
import random

from common import copy_rows
from django.db import connection

from tracker import services
from tracker.coverage import covered_interval
from tracker.localtime import to_utc

UTC = dt.UTC
START = dt.datetime(2022, 2, 24, tzinfo=UTC)
DAYS = 310  # to the end of 2022
N_REGIONS, CITIES_PER_REGION, N_SITES = 25, 10, 10_000
N_COUNTS, N_SOURCES, N_CORRIDORS, WINDOWS_PER_CORRIDOR = 100_000, 40, 500, 20
N_BACKGROUND_REPORTS = 20_000
LEAF_KINDS = {"shelter": 45, "settlement": 25, "facility": 12, "reception_centre": 10, "crossing": 8}
REGION_ZONES = ["Europe/Kyiv"] * 21 + ["Europe/Chisinau", "Europe/Warsaw", "Europe/Bucharest", "Europe/Budapest"]


def stamped(rng: random.Random, when: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """created_at a little after `when` (with microseconds, as auto_now writes them); a fifth edited later."""
    created = when + dt.timedelta(seconds=rng.randint(60, 36 * 3600), microseconds=rng.randrange(1_000_000))
    updated = created + dt.timedelta(seconds=rng.randint(60, 20 * 86400)) if rng.random() < 0.2 else created
    return created, updated


def instant(rng: random.Random) -> dt.datetime:
    """A whole minute in the data set's ten months."""
    return START + dt.timedelta(minutes=rng.randrange(DAYS * 24 * 60))


def build(*, counts: int = N_COUNTS, reports: int = N_BACKGROUND_REPORTS, seed: int = 20220224) -> None:
    """
    Write the data set into the (empty, migrated) database: `counts` civilian counts and
    `reports` hostility reports besides those made to overlap windows (and flagged).
    """
    from tracker.models import Organisation, Role, Source, User

    rng = random.Random(seed)
    origin_of_time = START - dt.timedelta(days=7)
    organisations = [Organisation.objects.create(name=f"NGO {i}", acronym=f"N{i}") for i in range(6)]
    users = [
        User.objects.create(username=f"reporter{i}", role=Role.REPORTER, organisation=organisations[i % 6])
        for i in range(12)
    ]
    kinds = ["official", "military", "un", "ngo", "media", "social_media", "field_team", "other"]
    sources = [Source.objects.create(name=f"Source {i}", kind=kinds[i % len(kinds)]) for i in range(N_SOURCES)]
    attribution = [(u.organisation_id, u.pk) for u in users]

    def attributed() -> tuple[int | None, int | None]:
        # Most figures are entered by staff; some were imported with no one's name on them.
        return rng.choice(attribution) if rng.random() < 0.85 else (None, None)

    # Sites: 25 regions (4 in neighbouring countries' zones), 10 cities each, and 9,750
    # shelters, settlements, facilities, reception centres and crossings under the cities.
    sites, zone_of, kind_of, city_of_region = [], {}, {}, {}
    next_id = 1

    def add(name, kind, parent, lat, lon, zone, restricted):
        nonlocal next_id
        pk = next_id
        next_id += 1
        created, updated = stamped(rng, origin_of_time)
        sites.append((pk, created, updated, name, kind, parent, round(lat, 6), round(lon, 6), zone, restricted))
        zone_of[pk], kind_of[pk] = zone, kind
        return pk

    cities = []
    for r in range(N_REGIONS):
        zone = REGION_ZONES[r]
        lat, lon = rng.uniform(45.5, 51.5), rng.uniform(23.0, 39.5)
        region = add(f"Region {r}", "region", None, lat, lon, zone, False)
        city_of_region[region] = []
        for c in range(CITIES_PER_REGION):
            city = add(
                f"City {r}.{c}",
                "city",
                region,
                lat + rng.uniform(-1, 1),
                lon + rng.uniform(-1, 1),
                zone,
                False,
            )
            cities.append((city, r, lat, lon))
            city_of_region[region].append(city)
    leaves = []
    for i in range(N_SITES - len(sites)):
        city, r, lat, lon = cities[i % len(cities)]
        kind = rng.choices(list(LEAF_KINDS), list(LEAF_KINDS.values()))[0]
        restricted = (kind == "shelter" and rng.random() < 0.7) or (kind == "facility" and rng.random() < 0.1)
        leaf = add(
            f"{kind.replace('_', ' ').capitalize()} {i}",
            kind,
            city,
            lat + rng.uniform(-1.1, 1.1),
            lon + rng.uniform(-1.1, 1.1),
            REGION_ZONES[r],
            restricted,
        )
        leaves.append((leaf, r))
    site_columns = ["id", "created_at", "updated_at", "name", "kind", "parent_id", "latitude", "longitude"]
    copy_rows("tracker_site", [*site_columns, "timezone", "restricted"], sites)

    # Counts: most at shelters and cities; a tenth are ranges; every qualifier and verification.
    counted = [pk for pk, kind in kind_of.items() if kind in ("shelter", "city", "settlement", "reception_centre")]

    def count_rows():
        for pk in range(1, counts + 1):
            as_of = instant(rng)
            count = int(rng.lognormvariate(5.5, 1.3))
            high = count + rng.randint(1, max(1, count // 2)) if rng.random() < 0.1 else None
            qualifier = rng.choices(["exact", "approximately", "at_least", "at_most"], [40, 35, 15, 10])[0]
            verification = rng.choices(["unverified", "verified", "disputed", "retracted"], [50, 35, 10, 5])[0]
            reported = as_of + dt.timedelta(minutes=rng.randint(0, 600)) if rng.random() < 0.6 else None
            organisation, user = attributed()
            created, updated = stamped(rng, as_of)
            source, site = rng.choice(sources).pk, rng.choice(counted)
            head = (pk, created, updated, verification, organisation, user, source, reported)
            yield (*head, site, as_of, count, high, qualifier)

    figure_columns = ["id", "created_at", "updated_at", "verification", "organisation_id", "created_by_id"]
    figure_columns += ["source_id", "reported_at"]
    copy_rows(
        "tracker_civiliancount", [*figure_columns, "site_id", "as_of", "count", "count_high", "qualifier"], count_rows()
    )

    # Corridors from a shelter or city to a city, reception centre or crossing in another region,
    # 0-2 cities on the way; 20 windows each, 08:00-18:00 local, some cancelled.
    shelters = [(pk, r) for pk, r in leaves if kind_of[pk] == "shelter"]
    destinations = [(pk, r) for pk, r in leaves if kind_of[pk] in ("reception_centre", "crossing")]
    destinations += [(c, r) for c, r, _, _ in cities]
    corridors, waypoints, windows = [], [], []
    statuses = ["proposed", "announced", "active", "suspended", "closed"]
    for c in range(1, N_CORRIDORS + 1):
        origin, region = rng.choice(shelters) if rng.random() < 0.7 else rng.choice(cities)[:2]
        destination = rng.choice([d for d, r in destinations if r != region])
        organisation, user = attributed()
        created, updated = stamped(rng, origin_of_time)
        announced_by = rng.choice(sources).pk if rng.random() < 0.8 else None
        announced_at = instant(rng) if announced_by else None
        corridors.append(
            (
                c,
                created,
                updated,
                "verified",
                organisation,
                user,
                f"Corridor {c}",
                origin,
                destination,
                announced_by,
                announced_at,
                rng.random() < 0.4,
                rng.choice(statuses),
            )
        )
        for position, (city, *_) in enumerate(rng.sample(cities, rng.randint(0, 2)), start=1):
            waypoints.append((len(waypoints) + 1, c, city, position))
        for day in sorted(rng.sample(range(DAYS), WINDOWS_PER_CORRIDOR)):
            date = (START + dt.timedelta(days=day)).date()
            start = to_utc(dt.datetime.combine(date, dt.time(8)), zone_of[origin])
            end = to_utc(dt.datetime.combine(date, dt.time(18)), zone_of[origin])
            created, updated = stamped(rng, start - dt.timedelta(days=2))
            windows.append((len(windows) + 1, created, updated, c, start, end, rng.random() < 0.03, origin))
    copy_rows(
        "corridors_corridor",
        [
            *figure_columns[:6],
            "name",
            "origin_id",
            "destination_id",
            "announced_by_id",
            "announced_at",
            "ceasefire_announced",
            "status",
        ],
        corridors,
    )
    copy_rows("corridors_corridorwaypoint", ["id", "corridor_id", "site_id", "position"], waypoints)
    copy_rows(
        "corridors_corridorwindow",
        ["id", "created_at", "updated_at", "corridor_id", "starts_at", "ends_at", "cancelled"],
        [w[:7] for w in windows],
    )

    # Hostility reports: background ones anywhere, and for a tenth of the windows 1-4 reports
    # at the origin during the window, each with its flag (open, acknowledged, dismissed or withdrawn).
    report_rows, flags = [], []
    site_ids = list(zone_of)

    def report(site, started, ended, precision, verification):
        start, end = covered_interval(
            started_at=started, ended_at=ended, ongoing=False, precision=precision, zone_name=zone_of[site]
        ).index_bounds()
        organisation, user = attributed()
        created, updated = stamped(rng, started)
        report_rows.append(
            (
                len(report_rows) + 1,
                created,
                updated,
                verification,
                organisation,
                user,
                rng.choice(sources).pk,
                None,
                site,
                rng.choice(["shelling", "air_strike", "small_arms", "missile_strike"]),
                started,
                ended,
                False,
                precision,
                "",
                start,
                end,
            )
        )
        return len(report_rows)

    for _ in range(reports):
        started = instant(rng)
        ended = started + dt.timedelta(minutes=rng.randint(5, 240)) if rng.random() < 0.6 else None
        verification = rng.choices(["unverified", "verified", "disputed", "retracted"], [50, 35, 10, 5])[0]
        report(rng.choice(site_ids), started, ended, "exact", verification)
    reviewer = users[0].pk
    for window_id, _c, _u, _corridor, start, end, cancelled, origin in windows:
        if cancelled or rng.random() >= 0.1:
            continue
        for _ in range(rng.choices([1, 2, 3, 4], [50, 30, 15, 5])[0]):
            started = start + dt.timedelta(minutes=rng.randint(0, 500))
            ended = min(end, started + dt.timedelta(minutes=rng.randint(5, 90)))
            hostility = report(origin, started, ended, "exact", rng.choice(["unverified", "verified"]))
            status = rng.choices(["open", "acknowledged", "dismissed", "withdrawn"], [55, 20, 15, 10])[0]
            reviewed = status in ("acknowledged", "dismissed")
            raised, updated = stamped(rng, started)
            flags.append(
                (
                    len(flags) + 1,
                    raised,
                    updated,
                    window_id,
                    hostility,
                    started,
                    ended,
                    "confirmed",
                    status,
                    raised,
                    reviewer if reviewed else None,
                    updated if reviewed else None,
                    "A false report." if status == "dismissed" else "",
                )
            )
    copy_rows(
        "tracker_hostilityreport",
        [
            *figure_columns,
            "site_id",
            "kind",
            "started_at",
            "ended_at",
            "ongoing",
            "time_precision",
            "description",
            "coverage_start",
            "coverage_end",
        ],
        report_rows,
    )
    copy_rows(
        "corridors_flag",
        [
            "id",
            "created_at",
            "updated_at",
            "window_id",
            "hostility_id",
            "overlap_start",
            "overlap_end",
            "certainty",
            "status",
            "raised_at",
            "reviewed_by_id",
            "reviewed_at",
            "review_note",
        ],
        flags,
    )

    # Departures from a third of the windows, arrivals at a quarter (at the corridor's destination).
    destination_of = {c[0]: c[8] for c in corridors}
    departures, arrivals = [], []
    for window_id, _c, _u, corridor, start, _end, cancelled, origin in windows:
        if cancelled:
            continue
        if rng.random() < 0.33:
            for _ in range(rng.randint(1, 3)):
                when = start + dt.timedelta(minutes=rng.randint(0, 600))
                organisation, user = attributed()
                created, updated = stamped(rng, when)
                verification = rng.choices(["unverified", "verified", "retracted"], [55, 40, 5])[0]
                departures.append(
                    (
                        len(departures) + 1,
                        created,
                        updated,
                        verification,
                        organisation,
                        user,
                        rng.choice(sources).pk,
                        None,
                        origin,
                        corridor,
                        window_id,
                        rng.randint(5, 400),
                        rng.choice(["exact", "approximately"]),
                        "",
                        when,
                    )
                )
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 2)):
                when = start + dt.timedelta(minutes=rng.randint(120, 900))
                organisation, user = attributed()
                created, updated = stamped(rng, when)
                verification = rng.choices(["unverified", "verified", "retracted"], [55, 40, 5])[0]
                arrivals.append(
                    (
                        len(arrivals) + 1,
                        created,
                        updated,
                        verification,
                        organisation,
                        user,
                        rng.choice(sources).pk,
                        None,
                        origin,
                        corridor,
                        window_id,
                        rng.randint(5, 400),
                        rng.choice(["exact", "at_least"]),
                        "",
                        destination_of[corridor],
                        when,
                    )
                )
    movement = [*figure_columns, "origin_id", "corridor_id", "window_id", "count", "qualifier", "override_reason"]
    copy_rows("corridors_departure", [*movement, "departed_at"], departures)
    copy_rows("corridors_arrival", [*movement, "destination_id", "arrived_at"], arrivals)
    # The services keep each site's latest count as they write counts; rows written around them need it here.
    services.site_latest_counts_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def describe() -> list[str]:
    """The data set's numbers, read back from the database."""
    from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
    from tracker.models import CivilianCount, HostilityReport, Site

    sites = Site.objects
    return [
        f"{sites.count():,} sites ({sites.filter(parent=None).count()} regions, {sites.filter(kind='city').count()} "
        f"cities, {sites.filter(kind='shelter').count():,} shelters and "
        f"{sites.exclude(kind__in=['region', 'city', 'shelter']).count():,} other places; "
        f"{sites.filter(restricted=True).count():,} restricted)",
        f"{CivilianCount.objects.count():,} counts "
        f"({CivilianCount.objects.exclude(count_high=None).count():,} ranges, "
        f"{CivilianCount.objects.filter(verification='retracted').count():,} retracted)",
        f"{Corridor.objects.count():,} corridors, {CorridorWindow.objects.count():,} windows "
        f"({CorridorWindow.objects.filter(cancelled=True).count()} cancelled, "
        f"{CorridorWindow.objects.flagged().count():,} flagged)",
        f"{HostilityReport.objects.count():,} hostility reports, {Flag.objects.count():,} flags "
        f"({Flag.objects.filter(status__in=Flag.ACTIVE_STATUSES).count():,} open or acknowledged)",
        f"{Departure.objects.count():,} departures, {Arrival.objects.count():,} arrivals",
    ]
