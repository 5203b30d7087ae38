"""
A corridor announced with a ceasefire, as the ceasefire record and the dossier tests
need it: windows in every state, reports of every precision and verification, flags
raised by the flag engine, then reviewed by a coordinator (acknowledged, dismissed).

    window (local 08:00–18:00, Kyiv)  what overlaps it                                   outcome
    5 May   exact, verified (Azov regiment), acknowledged                              exact-time
    6 May   hour-known, unverified (city council); an exact one retracted (no flag)    possible only
    7 May   day-known, disputed (Local channel); exact, unverified (city council)      exact-time
    8 May   exact, verified (Azov regiment), dismissed: "another place"                none (dismissed)
    9 May   cancelled                                                                   not counted

and a second corridor by the same announcer without a ceasefire, with one window and no report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from corridors import flagging, services
from corridors.models import Corridor, CorridorWindow, Flag
from tests import factories
from tracker.models import HostilityReport, Qualifier, Site, Verification

UTC = dt.UTC
Precision = HostilityReport.Precision


def day(d: int, hour: int = 5, minute: int = 0) -> dt.datetime:
    return dt.datetime(2022, 5, d, hour, minute, tzinfo=UTC)


@dataclass
class CeasefireCase:
    corridor: Corridor
    other: Corridor
    windows: list[CorridorWindow]
    reports: dict[str, HostilityReport]
    departure: object
    arrival: object


def build(coordinator) -> CeasefireCase:
    announcer = factories.SourceFactory(name="Russian military officials", kind="military")
    mariupol = factories.SiteFactory(name="Mariupol", kind=Site.Kind.CITY)
    azovstal = factories.SiteFactory(
        name="Azovstal", kind=Site.Kind.SHELTER, parent=mariupol, restricted=True, latitude=47.0987, longitude=37.5937
    )
    zaporizhzhia = factories.SiteFactory(name="Zaporizhzhia", kind=Site.Kind.CITY)
    corridor = factories.CorridorFactory(
        name="Mariupol → Zaporizhzhia",
        origin=mariupol,
        destination=zaporizhzhia,
        announced_by=announcer,
        announced_at=day(4, 12),
        ceasefire_announced=True,
        organisation=coordinator.organisation,
        created_by=coordinator,
    )
    windows = [factories.WindowFactory(corridor=corridor, starts_at=day(d)) for d in (5, 6, 7, 8)]
    windows.append(factories.WindowFactory(corridor=corridor, starts_at=day(9), cancelled=True))
    other = factories.CorridorFactory(
        name="Mariupol → Berdiansk", origin=mariupol, announced_by=announcer, ceasefire_announced=False
    )
    factories.WindowFactory(corridor=other, starts_at=day(10))

    azov = factories.SourceFactory(name="Azov regiment", kind="military")
    council = factories.SourceFactory(name="Mariupol city council", kind="official")
    channel = factories.SourceFactory(name="Local channel", kind="social_media")

    def report(key, **kwargs):
        kwargs.setdefault("organisation", coordinator.organisation)
        kwargs.setdefault("created_by", coordinator)
        return key, factories.HostilityReportFactory(**kwargs)

    reports = dict(
        [
            report(
                "assault",
                site=azovstal,
                kind=HostilityReport.Kind.GROUND_ASSAULT,
                started_at=day(5, 7),
                ended_at=day(5, 9),
                source=azov,
                verification=Verification.VERIFIED,
            ),
            report(
                "shelling",
                site=mariupol,
                started_at=day(6, 10, 30),
                time_precision=Precision.HOUR,
                source=council,
            ),
            report(
                "retracted",
                site=mariupol,
                started_at=day(6, 8),
                source=channel,
                verification=Verification.RETRACTED,
            ),
            report(
                "air_strike",
                site=mariupol,
                kind=HostilityReport.Kind.AIR_STRIKE,
                started_at=day(7, 3),
                time_precision=Precision.DAY,
                source=channel,
                verification=Verification.DISPUTED,
            ),
            report(
                "small_arms", site=azovstal, kind=HostilityReport.Kind.SMALL_ARMS, started_at=day(7, 12), source=council
            ),
            report(
                "elsewhere",
                site=mariupol,
                kind=HostilityReport.Kind.MISSILE_STRIKE,
                started_at=day(8, 9),
                source=azov,
                verification=Verification.VERIFIED,
            ),
        ]
    )
    now = day(20)
    flagging.flags_check_corridor(corridor_id=corridor.pk, now=now)
    flags = {f.hostility_id: f for f in Flag.objects.filter(window__corridor=corridor)}
    services.flag_review(
        flag=flags[reports["assault"].pk],
        user=coordinator,
        status=Flag.Status.ACKNOWLEDGED,
        note="Seen by our team at the plant gate.",
    )
    services.flag_review(
        flag=flags[reports["elsewhere"].pk],
        user=coordinator,
        status=Flag.Status.DISMISSED,
        note="The strike hit a village 40 km away, not on the route.",
    )
    departure = factories.DepartureFactory(
        origin=mariupol,
        corridor=corridor,
        window=windows[0],
        departed_at=day(5, 6),
        count=100,
        qualifier=Qualifier.AT_LEAST,
        verification=Verification.VERIFIED,
        organisation=coordinator.organisation,
        created_by=coordinator,
        source=council,
    )
    arrival = factories.ArrivalFactory(
        origin=mariupol,
        destination=zaporizhzhia,
        corridor=corridor,
        window=windows[0],
        arrived_at=day(5, 15),
        count=101,
        organisation=coordinator.organisation,
        created_by=coordinator,
        source=factories.SourceFactory(name="UN OCHA", kind="un"),
    )
    return CeasefireCase(
        corridor=corridor, other=other, windows=windows, reports=reports, departure=departure, arrival=arrival
    )
