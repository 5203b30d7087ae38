"""The demo scenario: Mariupol, early May 2022, with every state a user meets."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from corridors import flagging
from corridors import services as corridor_services
from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
from tracker import services
from tracker.models import (
    CivilianCount,
    DemoRow,
    HostilityReport,
    Organisation,
    Role,
    Site,
    Source,
    User,
    Verification,
)

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def row_counts():
    """Rows of every model, history tables included."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def load_demo():
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def demo(db):
    load_demo()


@pytest.fixture
def demo_coordinator(demo):
    """A person of the demo organisation who edits the demo's rows (not the loader)."""
    return User.objects.create(
        username="olena", organisation=Organisation.objects.get(name__startswith="Demo"), role=Role.COORDINATOR
    )


def azovstal() -> Site:
    return Site.objects.get(name="Azovstal steel plant")


def flag_of(day: int, kind: str) -> Flag:
    return Flag.objects.get(window__starts_at__day=day, hostility__kind=kind)


def test_loading_the_demo_twice_gives_the_same_rows(demo):
    first = row_counts()
    load_demo()
    assert row_counts() == first
    assert first["tracker.HostilityReport"] == 5
    assert first["corridors.Flag"] == 6


def test_the_demo_holds_the_scenario_of_the_seed_report(demo):
    plant = azovstal()
    assert plant.restricted
    assert [s.name for s in plant.ancestors()] == ["Mariupol", "Donetsk oblast"]
    assert {s.name for s in Site.objects.all()} >= {"Zaporizhzhia", "Odesa", "Kherson"}
    assert CivilianCount.objects.get(site=plant, source__name__startswith="Mayor").count == 200
    assert CivilianCount.objects.get(site__name="Mariupol").count == 100_000
    corridor = Corridor.objects.get()
    assert (corridor.origin, corridor.destination.name, corridor.ceasefire_announced) == (
        plant,
        "Zaporizhzhia",
        True,
    )
    assert corridor.announced_by.name == "Russian military officials"
    assert [
        (w.local_starts_at().hour, w.local_ends_at().hour, w.starts_at.day) for w in CorridorWindow.objects.all()
    ] == [
        (8, 18, 5),
        (8, 18, 6),
        (8, 18, 7),
    ]
    assert HostilityReport.objects.filter(site__name="Odesa", kind="missile_strike").exists()
    # Who left through the 6 May window and who arrived from it, for the comparison.
    window = CorridorWindow.objects.get(starts_at__day=6)
    assert Departure.objects.get(window=window).count == 50
    assert Arrival.objects.get(window=window).destination.name == "Zaporizhzhia"


def test_the_demo_has_verified_disputed_retracted_and_unverified_figures(demo):
    states = {
        verification
        for model in (CivilianCount, HostilityReport, Departure, Arrival)
        for verification in model.objects.values_list("verification", flat=True)
    }
    assert states == set(Verification.values)
    # The UN, which ran the first safe passage, counted 101 out of the plant on 1 May.
    verified = Departure.objects.get(verification=Verification.VERIFIED)
    assert (verified.count, verified.source.kind, verified.departed_at.day) == (101, Source.Kind.UN, 1)


def test_two_sources_disagree_and_both_are_shown(demo):
    # Who is still in the plant on 4 May: the mayor against a field team (disputed, still shown).
    counts = CivilianCount.objects.filter(site=azovstal()).exclude(verification=Verification.RETRACTED)
    assert {(c.source.kind, c.count, c.verification) for c in counts} == {
        (Source.Kind.OFFICIAL, 200, Verification.UNVERIFIED),
        (Source.Kind.FIELD_TEAM, 300, Verification.DISPUTED),
    }
    # Who left on 1 May: the UN's 101 against the Russian defence ministry's 126.
    first_of_may = Departure.objects.filter(departed_at__date=dt.date(2022, 5, 1)).order_by("count")
    assert [(d.count, d.source.name, d.verification) for d in first_of_may] == [
        (101, "UN Humanitarian Coordinator for Ukraine (Osnat Lubrani)", Verification.VERIFIED),
        (126, "Russian military officials", Verification.DISPUTED),
    ]


def test_the_assault_ends_in_mid_may_and_its_history_says_it_was_going_on(demo):
    assault = HostilityReport.objects.get(kind=HostilityReport.Kind.GROUND_ASSAULT)
    assert not assault.ongoing
    assert assault.ended_at.astimezone(azovstal().zone).date() == dt.date(2022, 5, 20)
    assert assault.coverage_end is not None and assault.coverage_end < dt.datetime(2022, 6, 1, tzinfo=UTC)
    first = assault.history.earliest("history_date")
    assert (first.ongoing, first.ended_at) == (True, None)


def test_a_window_scheduled_today_is_not_flagged_by_the_demo(demo):
    """The assault of May 2022 ended: a newcomer's own window today starts without flags."""
    corridor = Corridor.objects.get()
    now = timezone.now()
    window = corridor_services.window_save(
        window=CorridorWindow(
            corridor=corridor, starts_at=now + dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=9)
        ),
        user=User.objects.get(username="demo-loader"),
    )
    flagging.flags_check_windows(window_ids=[window.pk], now=now)
    assert not window.flags.exists()


def test_the_corridor_was_announced_and_later_closed(demo):
    corridor = Corridor.objects.get()
    assert corridor.status == Corridor.Status.CLOSED
    assert [h.status for h in corridor.history.order_by("history_date", "history_id")] == [
        Corridor.Status.ANNOUNCED,
        Corridor.Status.CLOSED,
    ]


def test_the_flags_show_every_review_state(demo):
    assert {f.status for f in Flag.objects.all()} == set(Flag.Status.values)
    acknowledged = flag_of(6, HostilityReport.Kind.GROUND_ASSAULT)
    assert acknowledged.status == Flag.Status.ACKNOWLEDGED
    assert acknowledged.reviewed_by.username == "demo-loader"
    dismissed = flag_of(6, HostilityReport.Kind.AIR_STRIKE)
    assert dismissed.status == Flag.Status.DISMISSED
    assert "already acknowledged" in dismissed.review_note
    # The field team's report raised a flag on 7 May, then was retracted: the flag is withdrawn, not gone.
    withdrawn = flag_of(7, HostilityReport.Kind.SMALL_ARMS)
    assert withdrawn.status == Flag.Status.WITHDRAWN
    assert withdrawn.hostility.verification == Verification.RETRACTED
    assert withdrawn.history.filter(status=Flag.Status.OPEN).exists()
    assert flag_of(5, HostilityReport.Kind.SHELLING).status == Flag.Status.OPEN


def test_renamed_demo_rows_are_kept_not_loaded_again(demo, demo_coordinator):
    plant = azovstal()
    plant.name = "Azovstal Iron and Steel Works"
    services.site_save(site=plant, user=demo_coordinator)
    source = Source.objects.get(name__startswith="Mayor")
    source.name = "Mariupol City Council"
    services.source_save(source=source, user=demo_coordinator)
    corridor = Corridor.objects.get()
    corridor.name = "Azovstal evacuation, May 2022"
    corridor_services.corridor_save(corridor=corridor, user=demo_coordinator)
    organisation = Organisation.objects.get(name__startswith="Demo")
    organisation.name = "Demo Monitor"
    organisation.save()
    before = row_counts()

    load_demo()

    assert row_counts() == before
    assert Site.objects.get(pk=plant.pk).name == "Azovstal Iron and Steel Works"
    assert Source.objects.get(pk=source.pk).name == "Mariupol City Council"
    assert Corridor.objects.get().name == "Azovstal evacuation, May 2022"
    assert Organisation.objects.get().name == "Demo Monitor"


def test_a_persons_edit_of_a_demo_figure_is_kept(demo, demo_coordinator):
    count = CivilianCount.objects.get(site=azovstal(), source__name__startswith="Mayor")
    count.verification = Verification.VERIFIED
    services.figure_save(figure=count, user=demo_coordinator)
    flag = flag_of(5, HostilityReport.Kind.SHELLING)
    corridor_services.flag_review(flag=flag, user=demo_coordinator, status=Flag.Status.DISMISSED, note="Old news")

    load_demo()

    assert CivilianCount.objects.get(pk=count.pk).verification == Verification.VERIFIED
    assert Flag.objects.get(pk=flag.pk).review_note == "Old news"


def test_a_deleted_demo_row_is_loaded_again_once(demo, demo_coordinator):
    services.site_delete(site=Site.objects.get(name="Kherson"), user=demo_coordinator)
    load_demo()
    load_demo()
    assert Site.objects.filter(name="Kherson").count() == 1


def test_rows_loaded_before_the_keys_were_kept_are_found_by_their_natural_keys(demo):
    loader = User.objects.get(username="demo-loader")
    # The 1 May departure as the loader wrote it before December 2026.
    departure = Departure.objects.get(count=101)
    departure.source = Source.objects.get(name__startswith="Mayor")
    departure.departed_at = dt.datetime(2022, 5, 3, 5, tzinfo=UTC)
    departure.count, departure.qualifier = 100, "at_least"
    departure.verification = Verification.UNVERIFIED
    services.figure_save(figure=departure, user=loader)
    DemoRow.objects.all().delete()
    before = row_counts()

    load_demo()

    def rows(counts):
        return {label: n for label, n in counts.items() if "Historical" not in label and label != "tracker.DemoRow"}

    assert rows(row_counts()) == rows(before)
    assert DemoRow.objects.count() == 33
    departure.refresh_from_db()
    assert (departure.count, departure.source.kind, departure.verification) == (101, "un", Verification.VERIFIED)


def test_demo_logins_are_printed_and_reset(capsys, settings):
    settings.DEBUG = True
    call_command("demo_login")
    first = capsys.readouterr().out
    password = first.split("coordinator")[1].split()[0]
    assert User.objects.get(username="coordinator").check_password(password)
    call_command("demo_login")
    assert not User.objects.get(username="coordinator").check_password(password)
    assert User.objects.filter(username__in=["coordinator", "reporter"]).count() == 2


def test_a_renamed_demo_login_is_reset_not_doubled(settings):
    settings.DEBUG = True
    call_command("demo_login", stdout=io.StringIO())
    User.objects.filter(username="coordinator").update(username="olena")
    out = io.StringIO()
    call_command("demo_login", stdout=out)
    assert not User.objects.filter(username="coordinator").exists()
    password = out.getvalue().split("olena")[1].split()[0]
    assert User.objects.get(username="olena").check_password(password)


def test_demo_logins_are_refused_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("demo_login")
