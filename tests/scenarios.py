"""Small worlds for the page tests: N corridors with windows, flags, movements, counts and reports."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from corridors.models import CorridorWaypoint, Flag
from tests import factories

UTC = dt.UTC
# "Now" in the page tests: the second day of the windows below.
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def build_world(n: int, *, prefix: str = "W") -> None:
    """
    `n` corridors, each with a waypoint and three windows (yesterday's, today's open
    one, tomorrow's) with flags, linked departures and arrivals; counts from two
    sources at each origin; a hostility report at each origin.
    """
    for i in range(n):
        name = f"{prefix}{i}"
        origin = factories.SiteFactory(name=f"{name} shelter", kind="shelter", restricted=True)
        destination = factories.SiteFactory(name=f"{name} city")
        corridor = factories.CorridorFactory(name=f"{name} corridor", origin=origin, destination=destination)
        CorridorWaypoint.objects.create(corridor=corridor, site=factories.SiteFactory(name=f"{name} stop"), position=1)
        windows = [
            factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, day, 5, 0, tzinfo=UTC))
            for day in (5, 6, 7)
        ]
        report = factories.HostilityReportFactory(site=origin, started_at=dt.datetime(2022, 5, 6, 7, tzinfo=UTC))
        for window in windows:
            factories.FlagFactory(window=window, hostility=report)
        factories.DepartureFactory(origin=origin, window=windows[0], corridor=corridor, count=30)
        factories.ArrivalFactory(origin=origin, destination=destination, window=windows[0], corridor=corridor, count=28)
        factories.CivilianCountFactory(site=origin, count=200)
        factories.CivilianCountFactory(site=origin, count=350, source=factories.SourceFactory(name=f"{name} other"))


def open_flag_count() -> int:
    return Flag.objects.filter(status=Flag.Status.OPEN).count()


def queries_for(client, url: str) -> int:
    """How many queries one request for `url` runs (and that it succeeds)."""
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(context)
