"""
Load the scenario of the seed report: Mariupol, 4 May 2022.

About 200 civilians shelter under the Azovstal steel plant and about 100,000 remain
in the city; more than 100 left the plant and reached Zaporizhzhia on 3 May; Russian
military officials announce a corridor 08:00–18:00 local for 5–7 May with a
ceasefire, while the defenders and the mayor report the plant being stormed.

The figures follow press reports of those days; exact times of day are illustrative
(each description says so). Idempotent: every row is found by a natural key, and a
second run writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.core.management.base import BaseCommand
from django.db import models, transaction

from corridors import services as corridor_services
from corridors.models import Arrival, Corridor, CorridorWindow, Departure
from corridors.schedule import expand_schedule
from tracker import services
from tracker.localtime import to_utc
from tracker.models import CivilianCount, HostilityReport, Organisation, Qualifier, Role, Site, Source, User

M = TypeVar("M", bound=models.Model)

DEMO_ORGANISATION = "Demo Humanitarian Monitor"
LOADER_USERNAME = "demo-loader"
ILLUSTRATIVE = " (Demo scenario after press reports of May 2022; the time of day is illustrative.)"


def kyiv(*args: int) -> dt.datetime:
    return to_utc(dt.datetime(*args), "Europe/Kyiv")  # noqa: DTZ001 - a wall-clock time, converted by its zone


def upsert(model: type[M], key: dict[str, Any], values: dict[str, Any], save: Any) -> M:
    """Find by `key`; create or bring up to date with `values` through `save`, writing only on a difference."""
    obj = model._default_manager.filter(**key).first() or model(**key)
    for name, value in values.items():
        setattr(obj, name, value)
    if obj._state.adding or services.changed_fields(obj):
        save(obj)
    return obj


class Command(BaseCommand):
    help = "Load the Mariupol, 4 May 2022 demo scenario (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        organisation, _ = Organisation.objects.get_or_create(name=DEMO_ORGANISATION, defaults={"acronym": "DHM"})
        loader, created = User.objects.get_or_create(
            username=LOADER_USERNAME,
            defaults={"organisation": organisation, "role": Role.COORDINATOR, "first_name": "Demo data"},
        )
        if created:
            loader.set_unusable_password()  # it only signs the demo rows; nobody logs in as it
            loader.save()

        def source(name: str, kind: str, url: str = "") -> Source:
            return upsert(
                Source,
                {"name": name},
                {"kind": kind, "url": url},
                lambda s: services.source_save(source=s, user=loader),
            )

        def site(name: str, kind: str, lat: float, lon: float, parent: Site | None = None, **extra: Any) -> Site:
            values = {"kind": kind, "latitude": lat, "longitude": lon, "parent": parent, **extra}
            return upsert(Site, {"name": name}, values, lambda s: services.site_save(site=s, user=loader))

        def figure(model: type[M], key: dict[str, Any], values: dict[str, Any]) -> M:
            return upsert(model, key, values, lambda f: services.figure_save(figure=f, user=loader))

        def report(key: dict[str, Any], values: dict[str, Any]) -> HostilityReport:
            return upsert(HostilityReport, key, values, lambda r: services.hostility_report_save(report=r, user=loader))

        mayor = source("Mayor of Mariupol (Vadym Boichenko)", Source.Kind.OFFICIAL, "https://mariupolrada.gov.ua/")
        azov = source("Azov regiment commander (Telegram)", Source.Kind.MILITARY)
        ua_mod = source("Ministry of Defence of Ukraine", Source.Kind.OFFICIAL, "https://www.mil.gov.ua/")
        ru_mil = source("Russian military officials", Source.Kind.MILITARY, "https://eng.mil.ru/")
        field_team = source(f"{DEMO_ORGANISATION} field team (illustrative figures)", Source.Kind.FIELD_TEAM)
        uk_mod = source(
            "UK Ministry of Defence intelligence update",
            Source.Kind.OFFICIAL,
            "https://www.gov.uk/government/organisations/ministry-of-defence",
        )

        donetsk = site("Donetsk oblast", Site.Kind.REGION, 48.0159, 37.8029)
        mariupol = site("Mariupol", Site.Kind.CITY, 47.0971, 37.5434, donetsk)
        azovstal = site("Azovstal steel plant", Site.Kind.SHELTER, 47.0980, 37.6110, mariupol, restricted=True)
        zaporizhzhia = site("Zaporizhzhia", Site.Kind.CITY, 47.8388, 35.1396)
        odesa = site("Odesa", Site.Kind.CITY, 46.4825, 30.7233)
        site("Kherson", Site.Kind.CITY, 46.6354, 32.6169)

        as_of = kyiv(2022, 5, 4, 12, 0)
        figure(
            CivilianCount,
            {"site": azovstal, "as_of": as_of, "source": mayor},
            {"count": 200, "qualifier": Qualifier.APPROXIMATELY, "reported_at": as_of},
        )
        figure(
            CivilianCount,
            {"site": mariupol, "as_of": as_of, "source": mayor},
            {"count": 100_000, "qualifier": Qualifier.APPROXIMATELY, "reported_at": as_of},
        )

        # A second source's figure for the same day, so that the dashboard shows two sources disagreeing.
        figure(
            CivilianCount,
            {"site": azovstal, "as_of": kyiv(2022, 5, 4, 18, 0), "source": field_team},
            {
                "count": 300,
                "count_high": 400,
                "qualifier": Qualifier.APPROXIMATELY,
                "reported_at": kyiv(2022, 5, 4, 18, 0),
            },
        )

        figure(
            Departure,
            {"origin": azovstal, "departed_at": kyiv(2022, 5, 3, 8, 0), "source": mayor},
            {"count": 100, "qualifier": Qualifier.AT_LEAST, "reported_at": kyiv(2022, 5, 4, 10, 0)},
        )
        figure(
            Arrival,
            {"destination": zaporizhzhia, "arrived_at": kyiv(2022, 5, 3, 18, 0), "source": mayor},
            {"origin": azovstal, "count": 100, "qualifier": Qualifier.AT_LEAST, "reported_at": kyiv(2022, 5, 4, 10, 0)},
        )

        corridor = upsert(
            Corridor,
            {"name": "Azovstal → Zaporizhzhia"},
            {
                "origin": azovstal,
                "destination": zaporizhzhia,
                "announced_by": ru_mil,
                "announced_at": kyiv(2022, 5, 4, 15, 0),
                "ceasefire_announced": True,
                "status": Corridor.Status.ANNOUNCED,
            },
            lambda c: corridor_services.corridor_save(corridor=c, user=loader),
        )
        for start, end in expand_schedule(
            local_start=dt.time(8),
            local_end=dt.time(18),
            first_date=dt.date(2022, 5, 5),
            days=3,
            zone_name=azovstal.timezone,
        ):
            upsert(
                CorridorWindow,
                {"corridor": corridor, "starts_at": start},
                {"ends_at": end},
                lambda w: corridor_services.window_save(window=w, user=loader),
            )

        # Illustrative figures for one window, so that the dashboard compares who left with who arrived.
        second_window = CorridorWindow.objects.get(corridor=corridor, starts_at=kyiv(2022, 5, 6, 8, 0))
        figure(
            Departure,
            {"origin": azovstal, "window": second_window, "source": field_team},
            {
                "corridor": corridor,
                "departed_at": kyiv(2022, 5, 6, 11, 0),
                "count": 50,
                "qualifier": Qualifier.APPROXIMATELY,
                "reported_at": kyiv(2022, 5, 6, 20, 0),
            },
        )
        figure(
            Arrival,
            {"destination": zaporizhzhia, "window": second_window, "source": field_team},
            {
                "origin": azovstal,
                "corridor": corridor,
                "arrived_at": kyiv(2022, 5, 8, 17, 0),
                "count": 41,
                "qualifier": Qualifier.EXACT,
                "reported_at": kyiv(2022, 5, 8, 19, 0),
            },
        )

        report(
            {"site": azovstal, "kind": HostilityReport.Kind.GROUND_ASSAULT, "source": azov},
            {
                "started_at": kyiv(2022, 5, 3, 0, 0),
                "time_precision": HostilityReport.Precision.DAY,
                "ongoing": True,
                "description": "Defenders report Russian forces storming the plant." + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 3, 20, 0),
            },
        )
        report(
            {"site": mariupol, "kind": HostilityReport.Kind.SHELLING, "source": mayor},
            {
                "started_at": kyiv(2022, 5, 5, 10, 0),
                "ended_at": kyiv(2022, 5, 5, 12, 0),
                "time_precision": HostilityReport.Precision.EXACT,
                "description": "The mayor reports heavy fighting around the plant." + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 5, 14, 0),
            },
        )
        report(
            {"site": azovstal, "kind": HostilityReport.Kind.AIR_STRIKE, "source": uk_mod},
            {
                "started_at": kyiv(2022, 5, 6, 0, 0),
                "time_precision": HostilityReport.Precision.DAY,
                "description": "Intelligence update: assaults on the plant continue despite the announced pause."
                + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 7, 9, 0),
            },
        )
        report(
            {"site": odesa, "kind": HostilityReport.Kind.MISSILE_STRIKE, "source": ua_mod},
            {
                "started_at": kyiv(2022, 5, 7, 17, 0),
                "time_precision": HostilityReport.Precision.HOUR,
                "description": "Missile strikes on Odesa." + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 7, 20, 0),
            },
        )
        self.stdout.write(self.style.SUCCESS("Demo scenario loaded: Mariupol, 4 May 2022."))
