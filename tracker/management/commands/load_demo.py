"""
Load the scenario of the seed report: Mariupol, early May 2022, with every state a
user of the app meets.

- 1 May: the UN and the ICRC take 101 civilians out of the Azovstal steel plant (a
  verified figure); the Russian defence ministry says 126 (disputed: it counts the
  houses around the plant too). More than 100 reach Zaporizhzhia on 3 May.
- 3 May: the defenders report the plant being stormed; the Kremlin denies it. The
  assault ends with the garrison's surrender, 16–20 May.
- 4 May: the mayor says about 200 civilians are still under the plant and about
  100,000 in the city; a field team's estimate differs (disputed). Russian military
  officials announce a corridor 08:00–18:00 local for 5–7 May, with a ceasefire.
- 6 May: the convoy waits at the plant all day under fire and takes 50 people out;
  about 40 of them reach Zaporizhzhia on 8 May. 7 May: all women, children and older
  people are out, and the corridor is closed.
- Flags: the assault and the shelling around the plant flag the windows; a
  coordinator acknowledged one, dismissed another with its reason, and a field
  team's report was retracted, which withdrew its flag.

The figures follow press reports of those days; exact times of day are illustrative
(each description says so), as is everything from the demo organisation's own field
team.

Idempotent, and it keeps what people changed: each row is found by a stable key
(DemoRow), not by a name that someone may have changed since. A row is brought up to
date with the scenario only while the loader was the last to write it; a row someone
else edited or renamed is left as they left it; one that was deleted is created again.
A second run writes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.utils import timezone

from corridors import flagging
from corridors import services as corridor_services
from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
from corridors.schedule import expand_schedule
from tracker import audit, services
from tracker.localtime import to_utc
from tracker.models import (
    Attributed,
    CivilianCount,
    DemoRow,
    HostilityReport,
    Organisation,
    Qualifier,
    Role,
    Site,
    Source,
    User,
    Verification,
)

M = TypeVar("M", bound=models.Model)
F = TypeVar("F", bound=Attributed)

DEMO_ORGANISATION = "Demo Humanitarian Monitor"
LOADER_USERNAME = "demo-loader"
ILLUSTRATIVE = " (Demo scenario after press reports of May 2022; the time of day is illustrative.)"
FIELD_TEAM = " (Illustrative: the demo organisation's own field team.)"


def kyiv(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return to_utc(dt.datetime(year, month, day, hour, minute), "Europe/Kyiv")  # noqa: DTZ001 - a wall-clock time, converted by its zone


Lookup = dict[str, Any]


def demo_row(key: str, model: type[M], *, legacy: Sequence[Lookup] = ()) -> M | None:
    """
    The row that plays the part `key` in the demo, or None if there is none (never
    loaded, or deleted since). `legacy` finds, once, a row loaded before the keys were
    kept, by the natural keys the loader used then (tried in order); it is then
    remembered by its key.
    """
    row = DemoRow.objects.filter(key=key, model=model._meta.label).first()
    if row is not None:
        return model._default_manager.filter(pk=row.object_id).first()
    for lookup in legacy:
        found = model._default_manager.filter(**lookup).order_by("pk").first()
        if found is not None:
            demo_row_remember(key, found)
            return found
    return None


def demo_row_remember(key: str, obj: models.Model) -> None:
    DemoRow.objects.update_or_create(key=key, defaults={"model": obj._meta.label, "object_id": obj.pk})


@contextlib.contextmanager
def quiet_logs(verbosity: int) -> Iterator[None]:
    """
    Without -v 2, no log line per demo row (a flag raised, an account created): a
    newcomer's first run shows what to do next. They are still recorded (the flags'
    history, the security event log).
    """
    loggers = (
        [logging.getLogger(name) for name in ("tracker", "tracker.security", "corridors")] if verbosity < 2 else []
    )
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def demo_organisation() -> Organisation:
    """The demo organisation, under whatever name it has now."""
    organisation = demo_row("organisation", Organisation, legacy=[{"name": DEMO_ORGANISATION}])
    if organisation is None:
        organisation = Organisation.objects.create(name=DEMO_ORGANISATION, acronym="DHM")
        demo_row_remember("organisation", organisation)
    return organisation


def last_written_by(obj: models.Model, user: User) -> bool:
    """Whether `user` made the latest change in the row's audit history."""
    history = obj.history.order_by("-history_date", "-history_id")  # type: ignore[attr-defined]
    return history.values_list("history_user_id", flat=True).first() == user.pk


class Scenario:
    """Writes the demo's rows through the services, signed by the loader."""

    def __init__(self, loader: User) -> None:
        self.loader = loader

    def row(
        self,
        key: str,
        model: type[M],
        values: dict[str, Any],
        save: Callable[[M], Any],
        *,
        first: dict[str, Any] | None = None,
        legacy: Sequence[Lookup] = (),
    ) -> M:
        """
        The row `key` with `values`. A new one is written first with `first` over the
        values (what was known at first: an assault still going on, a corridor only
        announced), then changed to the values, so that its history tells the story.
        """
        obj = demo_row(key, model, legacy=legacy)
        if obj is None:
            obj = model(**{**values, **(first or {})})
            save(obj)
            demo_row_remember(key, obj)
        elif not last_written_by(obj, self.loader):
            return obj  # someone changed it since: theirs to keep
        for name, value in values.items():
            setattr(obj, name, value)
        if audit.changed_fields(obj):
            save(obj)
        return obj

    def source(self, key: str, name: str, kind: str, url: str = "") -> Source:
        return self.row(
            f"source:{key}",
            Source,
            {"name": name, "kind": kind, "url": url},
            lambda s: services.source_save(source=s, user=self.loader),
            legacy=[{"name": name}],
        )

    def site(
        self, key: str, name: str, kind: str, lat: float, lon: float, parent: Site | None = None, **extra: Any
    ) -> Site:
        values = {"name": name, "kind": kind, "latitude": lat, "longitude": lon, "parent": parent, **extra}
        return self.row(
            f"site:{key}", Site, values, lambda s: services.site_save(site=s, user=self.loader), legacy=[{"name": name}]
        )

    def figure(self, key: str, model: type[F], values: dict[str, Any], **kwargs: Any) -> F:
        return self.row(key, model, values, lambda f: services.figure_save(figure=f, user=self.loader), **kwargs)

    def report(self, key: str, values: dict[str, Any], **kwargs: Any) -> HostilityReport:
        def save(report: HostilityReport) -> None:
            services.hostility_report_save(report=report, user=self.loader)
            # Now, not after the commit: the flags it raises or withdraws are part of the story.
            flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())

        return self.row(f"report:{key}", HostilityReport, values, save, **kwargs)

    def review(self, window: CorridorWindow, report: HostilityReport, status: str, note: str) -> None:
        """A coordinator's review of the flag of this pair, unless someone has reviewed it already."""
        flag = Flag.objects.filter(window=window, hostility=report).first()
        if flag is not None and flag.status == Flag.Status.OPEN and flag.reviewed_by_id is None:
            corridor_services.flag_review(flag=flag, user=self.loader, status=status, note=note)


class Command(BaseCommand):
    help = "Load the Mariupol, May 2022 demo scenario (idempotent; keeps what people changed)."

    def handle(self, *args: Any, **options: Any) -> None:
        with quiet_logs(options["verbosity"]):
            self.load_all()
        self.stdout.write(self.style.SUCCESS("Demo scenario loaded: Mariupol, May 2022."))

    @transaction.atomic
    def load_all(self) -> None:
        organisation = demo_organisation()
        loader = demo_row("user:loader", User, legacy=[{"username": LOADER_USERNAME}])
        if loader is None:
            loader = User(
                username=LOADER_USERNAME, organisation=organisation, role=Role.COORDINATOR, first_name="Demo data"
            )
            loader.set_unusable_password()  # it only signs the demo rows; nobody logs in as it
            loader.save()
            demo_row_remember("user:loader", loader)
        self.load(Scenario(loader))

    def load(self, demo: Scenario) -> None:
        mayor = demo.source(
            "mayor", "Mayor of Mariupol (Vadym Boichenko)", Source.Kind.OFFICIAL, "https://mariupolrada.gov.ua/"
        )
        azov = demo.source("azov", "Azov regiment commander (Telegram)", Source.Kind.MILITARY)
        ua_mod = demo.source(
            "ua-mod", "Ministry of Defence of Ukraine", Source.Kind.OFFICIAL, "https://www.mil.gov.ua/"
        )
        ru_mil = demo.source("ru-mil", "Russian military officials", Source.Kind.MILITARY, "https://eng.mil.ru/")
        field_team = demo.source(
            "field-team", f"{DEMO_ORGANISATION} field team (illustrative figures)", Source.Kind.FIELD_TEAM
        )
        uk_mod = demo.source(
            "uk-mod",
            "UK Ministry of Defence intelligence update",
            Source.Kind.OFFICIAL,
            "https://www.gov.uk/government/organisations/ministry-of-defence",
        )
        un = demo.source(
            "un", "UN Humanitarian Coordinator for Ukraine (Osnat Lubrani)", Source.Kind.UN, "https://ukraine.un.org/"
        )
        vereshchuk = demo.source(
            "vereshchuk",
            "Deputy Prime Minister of Ukraine (Iryna Vereshchuk)",
            Source.Kind.OFFICIAL,
            "https://minre.gov.ua/",
        )

        donetsk = demo.site("donetsk", "Donetsk oblast", Site.Kind.REGION, 48.0159, 37.8029)
        mariupol = demo.site("mariupol", "Mariupol", Site.Kind.CITY, 47.0971, 37.5434, donetsk)
        azovstal = demo.site(
            "azovstal", "Azovstal steel plant", Site.Kind.SHELTER, 47.0980, 37.6110, mariupol, restricted=True
        )
        zaporizhzhia = demo.site("zaporizhzhia", "Zaporizhzhia", Site.Kind.CITY, 47.8388, 35.1396)
        odesa = demo.site("odesa", "Odesa", Site.Kind.CITY, 46.4825, 30.7233)
        demo.site("kherson", "Kherson", Site.Kind.CITY, 46.6354, 32.6169)

        # 1–3 May: the first safe passage, run by the UN and the ICRC (not the corridor below).
        demo.figure(
            "departure:2022-05-01:un",
            Departure,
            {
                "origin": azovstal,
                "departed_at": kyiv(2022, 5, 1, 12, 0),
                "count": 101,
                "qualifier": Qualifier.EXACT,
                "source": un,
                "reported_at": kyiv(2022, 5, 3, 14, 0),
                "verification": Verification.VERIFIED,
            },
            legacy=[
                {"origin": azovstal, "departed_at": kyiv(2022, 5, 1, 12, 0), "source": un},
                {
                    "origin": azovstal,
                    "departed_at": kyiv(2022, 5, 3, 8, 0),
                    "source": mayor,
                },  # as loaded before December 2026
            ],
        )
        demo.figure(
            "departure:2022-05-01:ru-mil",
            Departure,
            {
                "origin": azovstal,
                "departed_at": kyiv(2022, 5, 1, 12, 0),
                "count": 126,
                "qualifier": Qualifier.EXACT,
                "source": ru_mil,
                "reported_at": kyiv(2022, 5, 2, 12, 0),
                # It counts people from the houses around the plant too (the UN, which ran it, counted 101).
                "verification": Verification.DISPUTED,
            },
            legacy=[{"origin": azovstal, "departed_at": kyiv(2022, 5, 1, 12, 0), "source": ru_mil}],
        )
        demo.figure(
            "arrival:2022-05-03:un",
            Arrival,
            {
                "origin": azovstal,
                "destination": zaporizhzhia,
                "arrived_at": kyiv(2022, 5, 3, 18, 0),
                "count": 100,
                "qualifier": Qualifier.AT_LEAST,
                "source": un,
                "reported_at": kyiv(2022, 5, 3, 20, 0),
                "verification": Verification.VERIFIED,
            },
            legacy=[
                {"destination": zaporizhzhia, "arrived_at": kyiv(2022, 5, 3, 18, 0), "source": un},
                {
                    "destination": zaporizhzhia,
                    "arrived_at": kyiv(2022, 5, 3, 18, 0),
                    "source": mayor,
                },  # as loaded before December 2026
            ],
        )

        # 4 May: who is still there, by two sources that disagree.
        as_of = kyiv(2022, 5, 4, 12, 0)
        demo.figure(
            "count:azovstal:mayor",
            CivilianCount,
            {
                "site": azovstal,
                "as_of": as_of,
                "source": mayor,
                "count": 200,
                "qualifier": Qualifier.APPROXIMATELY,
                "reported_at": as_of,
            },
            legacy=[{"site": azovstal, "as_of": as_of, "source": mayor}],
        )
        demo.figure(
            "count:mariupol:mayor",
            CivilianCount,
            {
                "site": mariupol,
                "as_of": as_of,
                "source": mayor,
                "count": 100_000,
                "qualifier": Qualifier.APPROXIMATELY,
                "reported_at": as_of,
            },
            legacy=[{"site": mariupol, "as_of": as_of, "source": mayor}],
        )
        evening = kyiv(2022, 5, 4, 18, 0)
        demo.figure(
            "count:azovstal:field-team",
            CivilianCount,
            {
                "site": azovstal,
                "as_of": evening,
                "source": field_team,
                "count": 300,
                "count_high": 400,
                "qualifier": Qualifier.APPROXIMATELY,
                "reported_at": evening,
                # A coordinator doubts it: far from the mayor's figure, and nobody could count inside.
                "verification": Verification.DISPUTED,
            },
            legacy=[{"site": azovstal, "as_of": evening, "source": field_team}],
        )

        corridor = demo.row(
            "corridor:azovstal-zaporizhzhia",
            Corridor,
            {
                "name": "Azovstal → Zaporizhzhia",
                "origin": azovstal,
                "destination": zaporizhzhia,
                "announced_by": ru_mil,
                "announced_at": kyiv(2022, 5, 4, 15, 0),
                "ceasefire_announced": True,
                # 7 May: all women, children and older people were out of the plant (Vereshchuk).
                "status": Corridor.Status.CLOSED,
            },
            lambda c: corridor_services.corridor_save(corridor=c, user=demo.loader),
            first={"status": Corridor.Status.ANNOUNCED},
            legacy=[{"name": "Azovstal → Zaporizhzhia"}],
        )
        windows = {}
        for start, end in expand_schedule(
            local_start=dt.time(8),
            local_end=dt.time(18),
            first_date=dt.date(2022, 5, 5),
            days=3,
            zone_name=azovstal.timezone,
        ):
            day = start.astimezone(azovstal.zone).day
            windows[day] = demo.row(
                f"window:2022-05-{day:02}",
                CorridorWindow,
                {"corridor": corridor, "starts_at": start, "ends_at": end},
                lambda w: corridor_services.window_save(window=w, user=demo.loader),
                legacy=[{"corridor": corridor, "starts_at": start}],
            )

        # 6 May: who left through that day's window, and who of them reached Zaporizhzhia.
        sixth = windows[6]
        demo.figure(
            "departure:2022-05-06",
            Departure,
            {
                "origin": azovstal,
                "window": sixth,
                "corridor": corridor,
                "departed_at": kyiv(2022, 5, 6, 16, 0),
                "count": 50,
                "qualifier": Qualifier.EXACT,
                "source": vereshchuk,
                "reported_at": kyiv(2022, 5, 6, 21, 0),
            },
            legacy=[
                {"origin": azovstal, "window": sixth, "source": vereshchuk},
                {"origin": azovstal, "window": sixth, "source": field_team},  # as loaded before December 2026
            ],
        )
        demo.figure(
            "arrival:2022-05-08",
            Arrival,
            {
                "origin": azovstal,
                "destination": zaporizhzhia,
                "window": sixth,
                "corridor": corridor,
                "arrived_at": kyiv(2022, 5, 8, 17, 0),
                "count": 40,
                "qualifier": Qualifier.APPROXIMATELY,
                "source": un,
                "reported_at": kyiv(2022, 5, 8, 19, 0),
            },
            legacy=[
                {"destination": zaporizhzhia, "window": sixth, "source": un},
                {"destination": zaporizhzhia, "window": sixth, "source": field_team},  # as loaded before December 2026
            ],
        )

        assault = demo.report(
            "assault",
            {
                "site": azovstal,
                "kind": HostilityReport.Kind.GROUND_ASSAULT,
                "source": azov,
                "started_at": kyiv(2022, 5, 3, 0, 0),
                "time_precision": HostilityReport.Precision.DAY,
                "ongoing": False,
                "ended_at": kyiv(2022, 5, 20, 0, 0),
                "description": (
                    "Defenders report Russian forces storming the plant from 3 May; the Kremlin denies any storming"
                    " (4 May). It ends with the garrison's surrender, 16–20 May." + ILLUSTRATIVE
                ),
                "reported_at": kyiv(2022, 5, 3, 20, 0),
                "verification": Verification.VERIFIED,
            },
            first={
                "ongoing": True,
                "ended_at": None,
                "description": "Defenders report Russian forces storming the plant." + ILLUSTRATIVE,
                "verification": Verification.UNVERIFIED,
            },
            legacy=[{"site": azovstal, "kind": HostilityReport.Kind.GROUND_ASSAULT, "source": azov}],
        )
        demo.report(
            "shelling",
            {
                "site": mariupol,
                "kind": HostilityReport.Kind.SHELLING,
                "source": mayor,
                "started_at": kyiv(2022, 5, 5, 10, 0),
                "ended_at": kyiv(2022, 5, 5, 12, 0),
                "time_precision": HostilityReport.Precision.EXACT,
                "description": "The mayor reports heavy fighting around the plant." + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 5, 14, 0),
            },
            legacy=[{"site": mariupol, "kind": HostilityReport.Kind.SHELLING, "source": mayor}],
        )
        air_strike = demo.report(
            "air-strike",
            {
                "site": azovstal,
                "kind": HostilityReport.Kind.AIR_STRIKE,
                "source": uk_mod,
                "started_at": kyiv(2022, 5, 6, 0, 0),
                "time_precision": HostilityReport.Precision.DAY,
                "description": "Intelligence update: assaults on the plant continue despite the announced pause."
                + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 7, 9, 0),
            },
            legacy=[{"site": azovstal, "kind": HostilityReport.Kind.AIR_STRIKE, "source": uk_mod}],
        )
        demo.report(
            "odesa",
            {
                "site": odesa,
                "kind": HostilityReport.Kind.MISSILE_STRIKE,
                "source": ua_mod,
                "started_at": kyiv(2022, 5, 7, 17, 0),
                "time_precision": HostilityReport.Precision.HOUR,
                "description": "Missile strikes on Odesa." + ILLUSTRATIVE,
                "reported_at": kyiv(2022, 5, 7, 20, 0),
            },
            legacy=[{"site": odesa, "kind": HostilityReport.Kind.MISSILE_STRIKE, "source": ua_mod}],
        )
        # Raised a flag on the 7 May window; retracted the next day, which withdrew it.
        demo.report(
            "field-team-gunfire",
            {
                "site": azovstal,
                "kind": HostilityReport.Kind.SMALL_ARMS,
                "source": field_team,
                "started_at": kyiv(2022, 5, 7, 11, 0),
                "ended_at": kyiv(2022, 5, 7, 11, 30),
                "time_precision": HostilityReport.Precision.EXACT,
                "description": "Gunfire heard near the convoy at the plant. Retracted: the team could not confirm it."
                + FIELD_TEAM,
                "reported_at": kyiv(2022, 5, 7, 13, 0),
                "verification": Verification.RETRACTED,
            },
            first={
                "description": "Gunfire heard near the convoy at the plant." + FIELD_TEAM,
                "verification": Verification.UNVERIFIED,
            },
            legacy=[{"site": azovstal, "kind": HostilityReport.Kind.SMALL_ARMS, "source": field_team}],
        )

        # The flags the windows got, two of them reviewed by a coordinator; the shelling's
        # on 5 May and the assault's on 5 and 7 May stay open.
        flagging.flags_check_corridor(corridor_id=corridor.pk, now=timezone.now())
        demo.review(
            sixth,
            assault,
            Flag.Status.ACKNOWLEDGED,
            "The convoy waited at the plant all day under fire; 50 people got out (Deputy Prime Minister"
            " Vereshchuk, 6 May).",
        )
        demo.review(
            sixth,
            air_strike,
            Flag.Status.DISMISSED,
            "The same fighting as the defenders' report of the assault, already acknowledged on this window.",
        )
