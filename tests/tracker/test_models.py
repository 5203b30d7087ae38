"""The invariants, in the database and as readable errors from clean()."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from corridors.models import Corridor, CorridorWindow, Flag
from tests import factories
from tracker.models import CivilianCount, HostilityReport, Site, canonical_timezone

pytestmark = pytest.mark.django_db
UTC = dt.UTC
T0 = dt.datetime(2022, 5, 5, 5, 0, tzinfo=UTC)


def violated_constraint(create):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        create()
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("constraint", "create"),
    [
        ("site_latitude_in_range", lambda: factories.SiteFactory(latitude=90.5)),
        ("site_longitude_in_range", lambda: factories.SiteFactory(longitude=-180.01)),
        ("civiliancount_count_high_not_below_count", lambda: factories.CivilianCountFactory(count=10, count_high=9)),
        ("civiliancount_count_not_negative", lambda: factories.CivilianCountFactory(count=-1)),
        ("departure_count_not_negative", lambda: factories.DepartureFactory(count=-5)),
        ("arrival_count_not_negative", lambda: factories.ArrivalFactory(count=-5)),
        (
            "hostilityreport_ends_after_start",
            lambda: factories.HostilityReportFactory(started_at=T0, ended_at=T0),
        ),
        (
            "hostilityreport_ongoing_has_no_end",
            lambda: factories.HostilityReportFactory(started_at=T0, ended_at=T0 + dt.timedelta(hours=1), ongoing=True),
        ),
        ("window_ends_after_start", lambda: factories.WindowFactory(starts_at=T0, ends_at=T0)),
        (
            "flag_overlap_ordered",
            lambda: factories.FlagFactory(overlap_start=T0 + dt.timedelta(hours=1), overlap_end=T0),
        ),
        ("flag_dismissal_has_reason", lambda: factories.FlagFactory(status=Flag.Status.DISMISSED, review_note="")),
    ],
)
def test_the_database_refuses_what_the_rules_forbid(constraint, create):
    message = violated_constraint(create)
    # A negative count also breaks the column's own unsigned check, which the database may name first.
    assert constraint in message or ("count_not_negative" in constraint and "count" in message)


def test_a_corridor_cannot_end_where_it_starts():
    site = factories.SiteFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.CorridorFactory(origin=site, destination=site)


def test_a_site_cannot_be_its_own_parent():
    site = factories.SiteFactory()
    site.parent_id = site.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        site.save()


def test_there_is_at_most_one_flag_per_window_and_report():
    flag = factories.FlagFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.FlagFactory(window=flag.window, hostility=flag.hostility)


def test_a_corridor_cannot_have_two_live_windows_starting_together_but_a_cancelled_one_may_stay():
    window = factories.WindowFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.WindowFactory(corridor=window.corridor, starts_at=window.starts_at)
    window.cancelled = True
    window.save()
    factories.WindowFactory(corridor=window.corridor, starts_at=window.starts_at)
    assert CorridorWindow.objects.filter(corridor=window.corridor).count() == 2


def messages_of(instance):
    with pytest.raises(ValidationError) as excinfo:
        instance.full_clean()
    return excinfo.value.message_dict


def test_clean_explains_a_range_whose_high_end_is_below_the_count():
    count = factories.CivilianCountFactory.build(site=factories.SiteFactory(), source=factories.SourceFactory())
    count.count, count.count_high = 120, 100
    assert messages_of(count)["count_high"] == ["The high end of the range must be at least the count."]


def test_clean_explains_coordinates_out_of_range():
    site = factories.SiteFactory.build(latitude=91, longitude=200)
    errors = messages_of(site)
    assert "Latitude must be between −90 and 90 degrees." in errors["latitude"]
    assert "Longitude must be between −180 and 180 degrees." in errors["longitude"]


def test_clean_explains_a_report_that_ends_before_it_starts_or_is_ongoing_with_an_end():
    site, source = factories.SiteFactory(), factories.SourceFactory()
    report = HostilityReport(site=site, source=source, kind="shelling", started_at=T0, ended_at=T0)
    assert messages_of(report)["ended_at"] == ["The end must be after the start."]
    report.ended_at, report.ongoing = T0 + dt.timedelta(hours=1), True
    assert "clear “ongoing”" in messages_of(report)["ongoing"][0]


def test_clean_refuses_a_site_inside_its_own_sub_site():
    region = factories.SiteFactory(name="Donetsk oblast")
    city = factories.SiteFactory(name="Mariupol", parent=region)
    plant = factories.SiteFactory(name="Azovstal", parent=city)
    region.parent = plant
    assert "inside one of its own sub-sites" in messages_of(region)["parent"][0]


def test_clean_refuses_a_cycle_that_only_the_database_knows_of():
    """The parent object in hand is stale: since it was read, its site was moved under this one."""
    city, plant = factories.SiteFactory(name="Mariupol"), factories.SiteFactory(name="Azovstal")
    stale_plant = Site.objects.get(pk=plant.pk)  # a top-level site, as read here
    plant.parent = city
    plant.save()
    city.parent = stale_plant
    assert "inside one of its own sub-sites" in messages_of(city)["parent"][0]


def test_clean_refuses_overlapping_live_windows_of_one_corridor():
    window = factories.WindowFactory()
    other = CorridorWindow(
        corridor=window.corridor, starts_at=window.ends_at - dt.timedelta(hours=1), ends_at=window.ends_at
    )
    assert "overlaps another live window" in messages_of(other)["__all__"][0]
    touching = CorridorWindow(
        corridor=window.corridor, starts_at=window.ends_at, ends_at=window.ends_at + dt.timedelta(hours=1)
    )
    touching.full_clean()  # half-open: touching is not overlapping


def test_clean_refuses_a_movement_linked_to_a_window_of_another_corridor():
    window = factories.WindowFactory()
    departure = factories.DepartureFactory.build(
        origin=factories.SiteFactory(),
        source=factories.SourceFactory(),
        window=window,
        corridor=factories.CorridorFactory(),
    )
    assert messages_of(departure)["window"] == ["This window belongs to another corridor."]


def test_a_movement_linked_to_a_window_takes_its_corridor():
    window = factories.WindowFactory()
    departure = factories.DepartureFactory.build(
        origin=window.corridor.origin, source=factories.SourceFactory(), window=window
    )
    departure.full_clean()
    assert departure.corridor_id == window.corridor_id


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Europe/Kiev", "Europe/Kyiv"), ("Europe/Kyiv", "Europe/Kyiv"), (" Europe/Kiev ", "Europe/Kyiv"), ("UTC", "UTC")],
)
def test_the_kiev_alias_is_accepted_and_stored_as_kyiv(given, stored):
    assert canonical_timezone(given) == stored
    site = factories.SiteFactory.build(timezone=given)
    site.full_clean()
    site.save()
    site.refresh_from_db()
    assert site.timezone == stored


def test_an_alias_saved_without_validation_is_still_stored_as_kyiv():
    site = factories.SiteFactory(timezone="Europe/Kiev")
    assert Site.objects.get(pk=site.pk).timezone == "Europe/Kyiv"


@pytest.mark.parametrize("zone", ["Kyiv", "Europe/Atlantis", "+03:00", "../../etc/passwd"])
def test_an_unknown_zone_is_refused_with_a_readable_message(zone):
    site = factories.SiteFactory.build(timezone=zone)
    assert "is not an IANA time zone name" in messages_of(site)["timezone"][0]


def test_a_restricted_site_shows_the_public_only_a_coarse_position():
    shelter = factories.SiteFactory.build(latitude=47.0980, longitude=37.6110, restricted=True)
    assert shelter.public_coordinates() == (47.1, 37.6)
    city = factories.SiteFactory.build(latitude=47.0971, longitude=37.5434)
    assert city.public_coordinates() == (47.0971, 37.5434)


def test_window_status_is_half_open():
    window = factories.WindowFactory.build(starts_at=T0, ends_at=T0 + dt.timedelta(hours=10))
    assert window.status_at(T0 - dt.timedelta(seconds=1)) == "scheduled"
    assert window.status_at(T0) == "open"
    assert window.is_open_at(T0)
    assert window.status_at(window.ends_at) == "closed"
    assert not window.is_open_at(window.ends_at)
    window.cancelled = True
    assert window.status_at(T0) == "cancelled"


def test_window_status_queries_agree_with_status_at():
    now = T0 + dt.timedelta(days=1, hours=2)
    corridor = factories.CorridorFactory()
    windows = [factories.WindowFactory(corridor=corridor, starts_at=T0 + dt.timedelta(days=d)) for d in range(3)]
    windows[2].cancelled = True
    windows[2].save()
    for status in ("scheduled", "open", "closed", "cancelled"):
        expected = {w.pk for w in windows if w.status_at(now) == status}
        assert set(CorridorWindow.objects.with_status(status, now).values_list("pk", flat=True)) == expected


def test_corridor_path_is_origin_waypoints_destination():
    corridor = factories.CorridorFactory()
    stops = [factories.SiteFactory(), factories.SiteFactory()]
    for position, site in enumerate(reversed(stops), start=1):
        corridor.corridor_waypoints.create(site=site, position=position)
    assert corridor.path_site_ids() == [corridor.origin_id, stops[1].pk, stops[0].pk, corridor.destination_id]
    assert Corridor.objects.get(pk=corridor.pk).timezone == "Europe/Kyiv"


def test_count_qualifier_reads_well():
    count = CivilianCount(qualifier="at_least")
    assert count.get_qualifier_display() == "at least"
