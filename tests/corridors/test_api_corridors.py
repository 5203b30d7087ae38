"""
`/api/v1/corridors/` and `corridors/{id}/schedule/` (docs/api.md): anyone reads them,
coordinators and admins write them; a schedule in the origin's local time expands
into UTC windows, day by day, honouring DST and past-midnight ends, all or nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, FlagCheck
from tests import factories
from tests.api import api, ids, persona, url

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def zaporizhzhia(db):
    return factories.SiteFactory(name="Zaporizhzhia")


@pytest.fixture
def stops(db):
    """Three places on the road out, created in an order unlike the route's."""
    return {name: factories.SiteFactory(name=name, kind="settlement") for name in ("Berdiansk", "Tokmak", "Vasylivka")}


def new_corridor(azovstal, zaporizhzhia, **fields):
    return {"name": "Mariupol → Zaporizhzhia", "origin": azovstal.pk, "destination": zaporizhzhia.pk, **fields}


def schedule(client, corridor, **fields):
    body = {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": 3, **fields}
    return client.post(url("corridor-schedule", corridor.pk), body, format="json")


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_anyone_reads_corridors(self, request, who, corridor):
        client = api(persona(request, who))
        assert ids(client.get(url("corridor-list"))) == [corridor.pk]
        detail = client.get(url("corridor-detail", corridor.pk))
        assert detail.status_code == 200
        assert detail.json()["name"] == "Azovstal → Zaporizhzhia"

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 201), ("dave", 201)]
    )
    def test_only_coordinators_and_admins_add_corridors(self, request, who, expected, azovstal, zaporizhzhia):
        response = api(persona(request, who)).post(
            url("corridor-list"), new_corridor(azovstal, zaporizhzhia), format="json"
        )
        assert response.status_code == expected
        assert Corridor.objects.count() == (1 if expected == 201 else 0)

    @pytest.mark.parametrize("method", ["put", "patch"])
    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_coordinators_and_admins_change_corridors(self, request, who, expected, method, corridor):
        body = new_corridor(corridor.origin, corridor.destination, name="Renamed")
        response = getattr(api(persona(request, who)), method)(url("corridor-detail", corridor.pk), body, format="json")
        assert response.status_code == expected
        corridor.refresh_from_db()
        assert corridor.name == ("Renamed" if expected == 200 else "Azovstal → Zaporizhzhia")

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_coordinators_and_admins_delete_corridors(self, request, who, expected, corridor):
        response = api(persona(request, who)).delete(url("corridor-detail", corridor.pk))
        assert response.status_code == expected
        assert Corridor.objects.filter(pk=corridor.pk).exists() == (expected != 204)

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 201), ("dave", 201)]
    )
    def test_only_coordinators_and_admins_add_schedules(self, request, who, expected, corridor):
        response = schedule(api(persona(request, who)), corridor)
        assert response.status_code == expected
        assert CorridorWindow.objects.count() == (3 if expected == 201 else 0)


class TestFields:
    def test_a_new_corridor_is_stamped_with_the_coordinators_organisation(self, carol, ngo_a, azovstal, zaporizhzhia):
        response = api(carol).post(url("corridor-list"), new_corridor(azovstal, zaporizhzhia), format="json")
        assert response.status_code == 201
        body = response.json()
        assert (body["organisation"], body["created_by"]) == (ngo_a.pk, carol.pk)
        assert body["status"] == "proposed"
        assert set(body) >= {
            "id",
            "created_at",
            "updated_at",
            "name",
            "origin",
            "destination",
            "waypoints",
            "announced_by",
            "announced_at",
            "ceasefire_announced",
            "status",
            "timezone",
        }

    def test_an_admin_without_organisation_adds_a_corridor_with_none(self, dave, azovstal, zaporizhzhia):
        body = api(dave).post(url("corridor-list"), new_corridor(azovstal, zaporizhzhia), format="json").json()
        assert (body["organisation"], body["created_by"]) == (None, dave.pk)

    def test_organisation_and_author_cannot_be_set_by_the_client(
        self, carol, ngo_a, ngo_b, bob, azovstal, zaporizhzhia
    ):
        body = new_corridor(azovstal, zaporizhzhia, organisation=ngo_b.pk, created_by=bob.pk)
        created = api(carol).post(url("corridor-list"), body, format="json").json()
        assert (created["organisation"], created["created_by"]) == (ngo_a.pk, carol.pk)

    def test_waypoints_come_back_in_the_order_given(self, carol, azovstal, zaporizhzhia, stops):
        route = [stops["Vasylivka"].pk, stops["Berdiansk"].pk, stops["Tokmak"].pk]
        response = api(carol).post(
            url("corridor-list"), new_corridor(azovstal, zaporizhzhia, waypoints=route), format="json"
        )
        assert response.status_code == 201
        assert response.json()["waypoints"] == route
        corridor = Corridor.objects.get()
        assert corridor.path_site_ids() == [azovstal.pk, *route, zaporizhzhia.pk]
        assert api().get(url("corridor-detail", corridor.pk)).json()["waypoints"] == route

    @pytest.mark.parametrize("method", ["put", "patch"])
    def test_waypoints_given_on_an_update_replace_the_path(self, carol, method, corridor, stops):
        CorridorWaypoint.objects.create(corridor=corridor, site=stops["Berdiansk"], position=1)
        CorridorWaypoint.objects.create(corridor=corridor, site=stops["Tokmak"], position=2)
        route = [stops["Tokmak"].pk, stops["Vasylivka"].pk]
        body = new_corridor(corridor.origin, corridor.destination, waypoints=route)
        response = getattr(api(carol), method)(url("corridor-detail", corridor.pk), body, format="json")
        assert response.status_code == 200
        assert response.json()["waypoints"] == route
        assert corridor.path_site_ids() == [corridor.origin_id, *route, corridor.destination_id]

    def test_an_empty_list_clears_the_waypoints(self, carol, corridor, stops):
        CorridorWaypoint.objects.create(corridor=corridor, site=stops["Berdiansk"], position=1)
        response = api(carol).patch(url("corridor-detail", corridor.pk), {"waypoints": []}, format="json")
        assert response.json()["waypoints"] == []
        assert not CorridorWaypoint.objects.exists()

    def test_a_patch_without_waypoints_keeps_them(self, carol, corridor, stops):
        CorridorWaypoint.objects.create(corridor=corridor, site=stops["Berdiansk"], position=1)
        response = api(carol).patch(url("corridor-detail", corridor.pk), {"status": "active"}, format="json")
        assert response.status_code == 200
        assert response.json()["waypoints"] == [stops["Berdiansk"].pk]
        assert response.json()["status"] == "active"

    def test_the_time_zone_is_the_origins_and_read_only(self, carol, zaporizhzhia):
        london = factories.SiteFactory(name="London", timezone="Europe/London")
        body = new_corridor(london, zaporizhzhia, timezone="Asia/Tokyo")
        response = api(carol).post(url("corridor-list"), body, format="json")
        assert response.json()["timezone"] == "Europe/London"
        corridor = Corridor.objects.get()
        assert api().get(url("corridor-detail", corridor.pk)).json()["timezone"] == "Europe/London"

    def test_moving_the_origin_changes_the_time_zone(self, carol, corridor):
        london = factories.SiteFactory(name="London", timezone="Europe/London")
        response = api(carol).patch(url("corridor-detail", corridor.pk), {"origin": london.pk}, format="json")
        assert response.json()["timezone"] == "Europe/London"

    def test_the_announcement_instant_is_given_back_in_utc(self, carol, azovstal, zaporizhzhia):
        source = factories.SourceFactory(name="Russian military officials")
        body = new_corridor(azovstal, zaporizhzhia, announced_by=source.pk, announced_at="2022-05-04T20:00:00+03:00")
        created = api(carol).post(url("corridor-list"), body, format="json").json()
        assert (created["announced_by"], created["announced_at"]) == (source.pk, "2022-05-04T17:00:00Z")


class TestValidation:
    """Each refusal is a 400 that names the field, and writes nothing."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"origin": 999_999}, "origin"),
            ({"destination": 999_999}, "destination"),
            ({"waypoints": [999_999]}, "waypoints"),
            ({"announced_by": 999_999}, "announced_by"),
            ({"origin": "1"}, "origin"),
            ({"waypoints": ["1"]}, "waypoints"),
            ({"waypoints": "1,2"}, "waypoints"),
            ({"status": "open"}, "status"),
            ({"announced_at": "2022-05-04T20:00:00"}, "announced_at"),
            ({"announced_at": "yesterday"}, "announced_at"),
            ({"ceasefire_announced": "yes"}, "ceasefire_announced"),
            ({"name": ""}, "name"),
        ],
    )
    def test_a_bad_field_is_a_400_naming_it(self, carol, azovstal, zaporizhzhia, fields, field):
        response = api(carol).post(url("corridor-list"), new_corridor(azovstal, zaporizhzhia, **fields), format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not Corridor.objects.exists()
        assert not Corridor.history.exists()

    def test_a_naive_instant_is_refused_with_a_reason(self, carol, azovstal, zaporizhzhia):
        body = new_corridor(azovstal, zaporizhzhia, announced_at="2022-05-04T20:00:00")
        response = api(carol).post(url("corridor-list"), body, format="json")
        assert "offset" in response.json()["announced_at"][0]

    def test_the_destination_must_differ_from_the_origin(self, carol, azovstal):
        response = api(carol).post(url("corridor-list"), new_corridor(azovstal, azovstal), format="json")
        assert response.status_code == 400
        assert "destination" in response.json()
        assert not Corridor.objects.exists()

    def test_a_bad_waypoint_on_an_update_changes_nothing(self, carol, corridor, stops):
        CorridorWaypoint.objects.create(corridor=corridor, site=stops["Berdiansk"], position=1)
        response = api(carol).patch(
            url("corridor-detail", corridor.pk), {"name": "Renamed", "waypoints": [999_999]}, format="json"
        )
        assert response.status_code == 400
        corridor.refresh_from_db()
        assert corridor.name == "Azovstal → Zaporizhzhia"
        assert corridor.path_site_ids()[1:-1] == [stops["Berdiansk"].pk]

    def test_a_corridor_with_windows_is_not_deleted(self, carol, corridor):
        factories.WindowFactory(corridor=corridor)
        response = api(carol).delete(url("corridor-detail", corridor.pk))
        assert response.status_code == 409
        assert "cannot be deleted" in response.json()["detail"]
        assert Corridor.objects.filter(pk=corridor.pk).exists()

    def test_an_unknown_corridor_is_404(self, carol):
        assert api().get(url("corridor-detail", 999_999)).status_code == 404
        assert api(carol).patch(url("corridor-detail", 999_999), {}, format="json").status_code == 404


class TestSchedule:
    def test_it_returns_the_windows_it_created_in_utc_and_local_time(self, carol, corridor):
        response = schedule(api(carol), corridor)
        assert response.status_code == 201
        windows = response.json()
        assert [(w["starts_at"], w["ends_at"]) for w in windows] == [
            ("2022-05-05T05:00:00Z", "2022-05-05T15:00:00Z"),
            ("2022-05-06T05:00:00Z", "2022-05-06T15:00:00Z"),
            ("2022-05-07T05:00:00Z", "2022-05-07T15:00:00Z"),
        ]
        assert [w["local_starts_at"] for w in windows] == [
            "2022-05-05T08:00:00+03:00",
            "2022-05-06T08:00:00+03:00",
            "2022-05-07T08:00:00+03:00",
        ]
        assert all(w["corridor"] == corridor.pk for w in windows)
        assert sorted(w["id"] for w in windows) == sorted(CorridorWindow.objects.values_list("id", flat=True))

    def test_each_day_is_converted_for_its_own_date_across_the_dst_change(self, carol, corridor):
        windows = schedule(api(carol), corridor, first_date="2022-03-26", days=2).json()
        assert [w["starts_at"] for w in windows] == ["2022-03-26T06:00:00Z", "2022-03-27T05:00:00Z"]
        assert [w["ends_at"] for w in windows] == ["2022-03-26T16:00:00Z", "2022-03-27T15:00:00Z"]
        assert [w["local_starts_at"] for w in windows] == ["2022-03-26T08:00:00+02:00", "2022-03-27T08:00:00+03:00"]
        assert [w["local_ends_at"] for w in windows] == ["2022-03-26T18:00:00+02:00", "2022-03-27T18:00:00+03:00"]

    def test_an_end_before_the_start_runs_past_midnight(self, carol, corridor):
        [window] = schedule(api(carol), corridor, local_start="22:00", local_end="06:00", days=1).json()
        assert (window["starts_at"], window["ends_at"]) == ("2022-05-05T19:00:00Z", "2022-05-06T03:00:00Z")
        assert (window["local_starts_at"], window["local_ends_at"]) == (
            "2022-05-05T22:00:00+03:00",
            "2022-05-06T06:00:00+03:00",
        )

    def test_it_uses_the_origins_time_zone(self, carol, zaporizhzhia):
        london = factories.SiteFactory(name="London", timezone="Europe/London")
        corridor = factories.CorridorFactory(origin=london, destination=zaporizhzhia)
        [window] = schedule(api(carol), corridor, days=1).json()
        assert window["starts_at"] == "2022-05-05T07:00:00Z"
        assert window["local_starts_at"] == "2022-05-05T08:00:00+01:00"

    @pytest.mark.parametrize("days", [1, 60])
    def test_it_takes_one_to_sixty_days(self, carol, corridor, days):
        assert schedule(api(carol), corridor, days=days).status_code == 201
        assert CorridorWindow.objects.count() == days

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"days": 0}, "days"),
            ({"days": 61}, "days"),
            ({"days": -1}, "days"),
            ({"days": "3"}, "days"),
            ({"days": 2.5}, "days"),
            ({"local_start": "24:00"}, "local_start"),
            ({"local_start": "8:00"}, "local_start"),
            ({"local_start": "08:60"}, "local_start"),
            ({"local_start": "08:00:00"}, "local_start"),
            ({"local_start": "08:00+03:00"}, "local_start"),
            ({"local_start": 800}, "local_start"),
            ({"local_end": "18h"}, "local_end"),
            ({"local_end": "-01:00"}, "local_end"),
            ({"first_date": "05/05/2022"}, "first_date"),
            ({"first_date": "2022-02-30"}, "first_date"),
            ({"first_date": "2022-05-05T00:00:00Z"}, "first_date"),
        ],
    )
    def test_a_bad_schedule_is_a_400_naming_the_field_and_creates_nothing(self, carol, corridor, fields, field):
        response = schedule(api(carol), corridor, **fields)
        assert response.status_code == 400
        assert field in response.json()
        assert not CorridorWindow.objects.exists()

    def test_the_edges_of_the_day_are_valid_times(self, carol, corridor):
        [window] = schedule(api(carol), corridor, local_start="00:00", local_end="23:59", days=1).json()
        assert (window["local_starts_at"], window["local_ends_at"]) == (
            "2022-05-05T00:00:00+03:00",
            "2022-05-05T23:59:00+03:00",
        )

    @pytest.mark.parametrize("missing", ["local_start", "local_end", "first_date", "days"])
    def test_every_part_of_a_schedule_is_required(self, carol, corridor, missing):
        body = {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": 3}
        del body[missing]
        response = api(carol).post(url("corridor-schedule", corridor.pk), body, format="json")
        assert response.status_code == 400
        assert missing in response.json()

    def test_a_schedule_that_clashes_with_a_window_creates_none(self, carol, corridor):
        existing = factories.WindowFactory(
            corridor=corridor, starts_at=utc(2022, 5, 7, 10), ends_at=utc(2022, 5, 7, 12)
        )
        history_before = CorridorWindow.history.count()
        response = schedule(api(carol), corridor)
        assert response.status_code == 400
        assert "overlaps another live window" in str(response.json())
        assert list(CorridorWindow.objects.all()) == [existing]
        assert CorridorWindow.history.count() == history_before
        assert not FlagCheck.objects.exists()

    def test_a_cancelled_window_does_not_clash(self, carol, corridor):
        factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 5), cancelled=True)
        assert schedule(api(carol), corridor).status_code == 201
        assert CorridorWindow.objects.filter(cancelled=False).count() == 3

    def test_a_window_of_another_corridor_does_not_clash(self, carol, corridor):
        factories.WindowFactory(starts_at=utc(2022, 5, 6, 5))
        assert schedule(api(carol), corridor).status_code == 201

    def test_equal_times_give_whole_days_that_touch_without_clashing(self, carol, corridor):
        windows = schedule(api(carol), corridor, local_start="08:00", local_end="08:00", days=2).json()
        assert [(w["starts_at"], w["ends_at"]) for w in windows] == [
            ("2022-05-05T05:00:00Z", "2022-05-06T05:00:00Z"),
            ("2022-05-06T05:00:00Z", "2022-05-07T05:00:00Z"),
        ]

    def test_a_time_the_clocks_skip_is_refused_with_a_reason(self, carol, corridor):
        response = schedule(
            api(carol), corridor, local_start="03:10", local_end="03:50", first_date="2022-03-27", days=1
        )
        assert response.status_code == 400
        assert "clocks skip it" in str(response.json())
        assert not CorridorWindow.objects.exists()

    def test_an_unknown_corridor_is_404(self, carol):
        response = api(carol).post(
            url("corridor-schedule", 999_999),
            {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": 1},
            format="json",
        )
        assert response.status_code == 404

    def test_the_coordinator_is_recorded_in_the_windows_history(self, carol, corridor):
        schedule(api(carol), corridor)
        assert {w.history.get().history_user for w in CorridorWindow.objects.all()} == {carol}


class TestFilters:
    def test_it_filters_on_updated_since(self, corridor, azovstal, zaporizhzhia):
        with_stamp = factories.CorridorFactory(origin=azovstal, destination=zaporizhzhia)
        Corridor.objects.filter(pk=corridor.pk).update(updated_at=utc(2022, 5, 1))
        Corridor.objects.filter(pk=with_stamp.pk).update(updated_at=utc(2022, 5, 3))
        assert ids(api().get(url("corridor-list", updated_since="2022-05-02T00:00:00Z"))) == [with_stamp.pk]
        assert ids(api().get(url("corridor-list", updated_since="2022-05-03T00:00:00Z"))) == [with_stamp.pk]
        assert ids(api().get(url("corridor-list", updated_since="2022-05-03T00:00:01Z"))) == []

    def test_a_naive_updated_since_is_a_400(self):
        response = api().get(url("corridor-list", updated_since="2022-05-02T00:00:00"))
        assert response.status_code == 400
        assert "updated_since" in response.json()
