"""The demo scenario: Mariupol, 4 May 2022."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from corridors.models import Arrival, Corridor, CorridorWindow, Departure
from tracker.models import CivilianCount, HostilityReport, Site, User

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def row_counts():
    """Rows of every model, history tables included."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_loading_the_demo_twice_gives_the_same_rows():
    call_command("load_demo")
    first = row_counts()
    call_command("load_demo")
    assert row_counts() == first
    assert first["tracker.HostilityReport"] == 4
    assert first["tracker.HistoricalHostilityReport"] == 4


def test_the_demo_holds_the_scenario_of_the_seed_report():
    call_command("load_demo")
    azovstal = Site.objects.get(name="Azovstal steel plant")
    assert azovstal.restricted
    assert [s.name for s in azovstal.ancestors()] == ["Mariupol", "Donetsk oblast"]
    assert {s.name for s in Site.objects.all()} >= {"Zaporizhzhia", "Odesa", "Kherson"}
    assert CivilianCount.objects.get(site=azovstal, source__name__startswith="Mayor").count == 200
    # A second source disagrees, so that the dashboard has both figures to show side by side.
    assert CivilianCount.objects.filter(site=azovstal).exclude(count=200).exists()
    assert CivilianCount.objects.get(site__name="Mariupol").count == 100_000
    corridor = Corridor.objects.get()
    assert (corridor.origin, corridor.destination.name, corridor.ceasefire_announced) == (
        azovstal,
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
    assert HostilityReport.objects.filter(site=azovstal, kind="ground_assault", ongoing=True).exists()
    assert HostilityReport.objects.filter(site__name="Odesa", kind="missile_strike").exists()
    # Who left through the 6 May window and who arrived from it, for the comparison.
    window = CorridorWindow.objects.get(starts_at__day=6)
    assert Departure.objects.get(window=window).corridor == corridor
    assert Arrival.objects.get(window=window).destination.name == "Zaporizhzhia"


def test_demo_logins_are_printed_and_reset(capsys, settings):
    settings.DEBUG = True
    call_command("demo_login")
    first = capsys.readouterr().out
    password = first.split("coordinator")[1].split()[0]
    assert User.objects.get(username="coordinator").check_password(password)
    call_command("demo_login")
    assert not User.objects.get(username="coordinator").check_password(password)
    assert User.objects.filter(username__in=["coordinator", "reporter"]).count() == 2


def test_demo_logins_are_refused_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("demo_login")
