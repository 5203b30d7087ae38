"""
Every public page on a generated data set of deployment size, then on one with ten
times the counts and reports (and twice the sites and corridors): the same number of
queries, and about the same time to render (measured with the page cache made stale
before each request, so that the page is rendered, not served kept).

The data sets are written once for the module with bulk_create (a few seconds on
either database) and the database is emptied after it.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from corridors.models import Arrival, Corridor, CorridorWaypoint, CorridorWindow, Departure, Flag
from tracker import geo, pagecache, services
from tracker.models import CivilianCount, HostilityReport, Organisation, Site, Source

# The tests only read what the module's fixture measured; the marker has the test database set up.
pytestmark = pytest.mark.django_db
UTC = dt.UTC
REPEAT = 3


@dataclass(frozen=True)
class Size:
    cities: int
    sites_per_city: int
    counts: int
    corridors: int
    reports: int


SMALL = Size(cities=50, sites_per_city=40, counts=10_000, corridors=100, reports=2_000)
# What is added to it: ten times the counts and reports, twice the sites and corridors.
MORE = Size(cities=50, sites_per_city=40, counts=90_000, corridors=100, reports=18_000)


class World:
    """Writes a data set shaped like bench/dataset.py's, in bulk, around the present moment."""

    def __init__(self) -> None:
        self.rng = random.Random(20220224)
        self.now = timezone.now()
        self.organisation = Organisation.objects.create(name="NGO generated")
        self.sources = [Source.objects.create(name=f"Generated source {i}", kind="ngo") for i in range(20)]
        self.sites: list[Site] = []
        self.cities: list[Site] = []

    def when(self, days: float = 30) -> dt.datetime:
        return self.now - dt.timedelta(minutes=self.rng.randrange(int(days * 24 * 60)))

    def grow(self, size: Size) -> None:
        rng = self.rng
        start = len(self.cities)
        cities = Site.objects.bulk_create(
            Site(
                name=f"City {start + i}",
                kind="city",
                latitude=rng.uniform(45.5, 51.5),
                longitude=rng.uniform(23.0, 39.5),
            )
            for i in range(size.cities)
        )
        leaves = Site.objects.bulk_create(
            Site(
                name=f"Shelter {start + c}.{i}",
                kind="shelter",
                parent=city,
                restricted=rng.random() < 0.6,
                latitude=city.latitude + rng.uniform(-0.5, 0.5),
                longitude=city.longitude + rng.uniform(-0.5, 0.5),
            )
            for c, city in enumerate(cities)
            for i in range(size.sites_per_city)
        )
        self.cities += cities
        self.sites += cities + leaves
        CivilianCount.objects.bulk_create(
            (
                CivilianCount(
                    site=rng.choice(self.sites),
                    source=rng.choice(self.sources),
                    organisation=self.organisation,
                    as_of=self.when(),
                    count=int(rng.lognormvariate(5.5, 1.3)),
                    qualifier=rng.choice(["exact", "approximately", "at_least"]),
                    verification=rng.choices(["unverified", "verified", "retracted"], [60, 35, 5])[0],
                )
                for _ in range(size.counts)
            ),
            batch_size=5000,
        )
        services.site_latest_counts_rebuild()
        reports = HostilityReport.objects.bulk_create(
            (self.report(rng.choice(self.sites)) for _ in range(size.reports)), batch_size=5000
        )
        corridors = Corridor.objects.bulk_create(
            Corridor(
                name=f"Corridor {len(self.sites)}.{i}",
                origin=rng.choice(leaves),
                destination=rng.choice(self.cities),
                organisation=self.organisation,
                status=rng.choice(["announced", "active", "closed"]),
            )
            for i in range(size.corridors)
        )
        CorridorWaypoint.objects.bulk_create(
            CorridorWaypoint(corridor=c, site=rng.choice(self.cities), position=1) for c in corridors
        )
        # Ten windows each, 08:00–18:00 UTC, from eight days ago to the day after tomorrow: some open now.
        today = self.now.replace(hour=8, minute=0, second=0, microsecond=0)
        windows = CorridorWindow.objects.bulk_create(
            CorridorWindow(
                corridor=c, starts_at=today + dt.timedelta(days=d), ends_at=today + dt.timedelta(days=d, hours=10)
            )
            for c in corridors
            for d in range(-7, 3)
        )
        flagged = rng.sample(windows, len(windows) // 10)
        flag_reports = HostilityReport.objects.bulk_create(
            self.report(w.corridor.origin, at=w.starts_at + dt.timedelta(hours=1)) for w in flagged
        )
        Flag.objects.bulk_create(
            Flag(
                window=w,
                hostility=r,
                overlap_start=r.started_at,
                overlap_end=r.started_at + dt.timedelta(hours=1),
                certainty="confirmed",
                status=(status := rng.choice(["open", "acknowledged", "dismissed"])),
                review_note="Another road." if status == "dismissed" else "",
                raised_at=r.started_at,
            )
            for w, r in zip(flagged, flag_reports, strict=True)
        )
        moved = [w for w in windows if w.starts_at < self.now][: len(windows) // 3]
        Departure.objects.bulk_create(
            Departure(
                origin=w.corridor.origin,
                corridor=w.corridor,
                window=w,
                source=rng.choice(self.sources),
                count=rng.randint(5, 400),
                departed_at=w.starts_at + dt.timedelta(hours=1),
            )
            for w in moved
        )
        Arrival.objects.bulk_create(
            Arrival(
                origin=w.corridor.origin,
                destination=w.corridor.destination,
                corridor=w.corridor,
                window=w,
                source=rng.choice(self.sources),
                count=rng.randint(5, 400),
                arrived_at=w.starts_at + dt.timedelta(hours=3),
            )
            for w in moved[::2]
        )
        assert reports

    def report(self, site: Site, at: dt.datetime | None = None) -> HostilityReport:
        started = at or self.when()
        ended = started + dt.timedelta(minutes=self.rng.randint(5, 240))
        # bulk_create skips save(), which derives the covered range: an exact report covers [start, end).
        return HostilityReport(
            site=site,
            kind="shelling",
            source=self.rng.choice(self.sources),
            started_at=started,
            ended_at=ended,
            coverage_start=started,
            coverage_end=ended,
        )

    def pages(self) -> dict[str, str]:
        """The public pages, on rows that the growth leaves as they are."""
        city = self.cities[0]
        corridor = Corridor.objects.order_by("id").first()
        x, y = geo.tile_xy(city.latitude, city.longitude, 12)
        pages = Site.objects.count() // 100
        return {
            "overview": "/en/",
            "overview data": "/en/overview/data/",
            "map": "/en/map/",
            "map, a page in the middle": f"/en/map/?page={pages // 2}",
            "map tile, a city": f"/en/map/tiles/12/{int(x)}/{int(y)}/",
            "map corridors": "/en/map/corridors/",
            "site: a city": f"/en/sites/{city.pk}/",
            "site: a shelter": f"/en/sites/{self.sites[len(self.cities)].pk}/",
            "corridor": f"/en/corridors/{corridor.pk}/",
        }


@dataclass(frozen=True)
class Measure:
    queries: int
    seconds: float


def measure(client: Client, path: str) -> Measure:
    """Rendered, not served kept: the best of REPEAT requests, each after the kept pages went stale."""
    best, queries = float("inf"), -1
    for _ in range(REPEAT):
        pagecache._new_generation()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, path
        queries = len(captured)
    return Measure(queries, best)


@pytest.fixture(scope="module")
def measured(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        try:
            world = World()
            world.grow(SMALL)
            pages = world.pages()
            client = Client()
            small = {label: measure(client, path) for label, path in pages.items()}
            world.grow(MORE)
            assert CivilianCount.objects.count() >= 100_000
            large = {label: measure(client, path) for label, path in pages.items()}
            world_tile = {"world tile": measure(client, "/en/map/tiles/0/0/0/")}
            yield small, large, world_tile
        finally:
            call_command("flush", interactive=False, verbosity=0)


LABELS = [
    "overview",
    "overview data",
    "map",
    "map, a page in the middle",
    "map tile, a city",
    "map corridors",
    "site: a city",
    "site: a shelter",
    "corridor",
]


@pytest.mark.parametrize("label", LABELS)
def test_a_public_page_runs_the_same_queries_on_ten_times_the_data(measured, label):
    small, large, _ = measured
    assert large[label].queries == small[label].queries


@pytest.mark.parametrize("label", LABELS)
def test_a_public_page_renders_in_about_the_same_time_on_ten_times_the_data(measured, label):
    """Generous bounds (a shared machine): the pages took seconds at this size, and grew with the data."""
    small, large, _ = measured
    assert large[label].seconds <= 3 * small[label].seconds + 0.1, (small[label], large[label])
    assert large[label].seconds < 2.0, large[label]


def test_the_whole_countrys_tile_of_the_map_reads_every_site_once(measured):
    """Its cost follows the number of sites in it (all of them here), not the counts or reports."""
    *_, world_tile = measured
    assert world_tile["world tile"].queries <= 2
    assert world_tile["world tile"].seconds < 1.0
