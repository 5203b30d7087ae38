"""
`/api/v1/windows/` (docs/api.md): the concrete windows of the corridors, `[starts_at,
ends_at)` in UTC with their local times, their state at the time of the request,
their flags and the people who left and arrived through them. Coordinators and
admins write them; the live windows of a corridor never overlap.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from corridors import flagging
from corridors.models import CorridorWindow, Flag, FlagCheck
from tests import factories
from tests.api import api, ids, persona, url

pytestmark = pytest.mark.django_db
UTC = dt.UTC
# The morning of the second day of the Azovstal windows below (12:00 in Kyiv).
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def days(corridor):
    """Three windows, 08:00–18:00 in Kyiv on 5, 6 and 7 May 2022: yesterday's, today's, tomorrow's."""
    return [
        factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, day, 5), ends_at=utc(2022, 5, day, 15))
        for day in (5, 6, 7)
    ]


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


def new_window(corridor, /, **fields):
    return {
        "corridor": corridor.pk,
        "starts_at": "2022-05-08T08:00:00+03:00",
        "ends_at": "2022-05-08T18:00:00+03:00",
    } | (fields)


def shelling(site, **fields):
    """A hostility report at `site`, with the flags the engine raises for it."""
    report = factories.HostilityReportFactory(site=site, **fields)
    flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
    return report


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_anyone_reads_windows(self, request, who, window):
        client = api(persona(request, who))
        assert ids(client.get(url("window-list"))) == [window.pk]
        assert client.get(url("window-detail", window.pk)).json()["corridor"] == window.corridor_id

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 201), ("dave", 201)]
    )
    def test_only_coordinators_and_admins_add_windows(self, request, who, expected, corridor):
        response = api(persona(request, who)).post(url("window-list"), new_window(corridor), format="json")
        assert response.status_code == expected
        assert CorridorWindow.objects.count() == (1 if expected == 201 else 0)

    @pytest.mark.parametrize("method", ["put", "patch"])
    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_coordinators_and_admins_change_windows(self, request, who, expected, method, window):
        body = new_window(window.corridor, starts_at="2022-05-05T06:00:00Z", ends_at="2022-05-05T16:00:00Z")
        response = getattr(api(persona(request, who)), method)(url("window-detail", window.pk), body, format="json")
        assert response.status_code == expected
        window.refresh_from_db()
        assert window.starts_at == (utc(2022, 5, 5, 6) if expected == 200 else utc(2022, 5, 5, 5))

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_coordinators_and_admins_delete_windows(self, request, who, expected, window):
        response = api(persona(request, who)).delete(url("window-detail", window.pk))
        assert response.status_code == expected
        assert CorridorWindow.objects.filter(pk=window.pk).exists() == (expected != 204)

    def test_a_window_that_raised_a_flag_is_not_deleted(self, carol, window, azovstal):
        shelling(azovstal, started_at=utc(2022, 5, 5, 7))
        response = api(carol).delete(url("window-detail", window.pk))
        assert response.status_code == 409
        assert CorridorWindow.objects.filter(pk=window.pk).exists()
        assert Flag.objects.filter(window=window).exists()


class TestFields:
    def test_instants_are_utc_and_local_times_carry_the_origins_offset(self, window):
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["starts_at"], body["ends_at"]) == ("2022-05-05T05:00:00Z", "2022-05-05T15:00:00Z")
        assert (body["local_starts_at"], body["local_ends_at"]) == (
            "2022-05-05T08:00:00+03:00",
            "2022-05-05T18:00:00+03:00",
        )

    def test_local_times_follow_dst_and_the_origins_zone(self):
        london = factories.SiteFactory(name="Dover", timezone="Europe/London")
        corridor = factories.CorridorFactory(origin=london)
        winter = factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 3, 26, 8), ends_at=utc(2022, 3, 26, 9))
        summer = factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 3, 27, 8), ends_at=utc(2022, 3, 27, 9))
        assert api().get(url("window-detail", winter.pk)).json()["local_starts_at"] == "2022-03-26T08:00:00+00:00"
        assert api().get(url("window-detail", summer.pk)).json()["local_starts_at"] == "2022-03-27T09:00:00+01:00"

    def test_a_window_given_in_local_time_is_stored_and_shown_in_utc(self, carol, corridor):
        response = api(carol).post(url("window-list"), new_window(corridor), format="json")
        assert response.status_code == 201
        body = response.json()
        assert (body["starts_at"], body["ends_at"]) == ("2022-05-08T05:00:00Z", "2022-05-08T15:00:00Z")
        assert body["local_starts_at"] == "2022-05-08T08:00:00+03:00"
        assert CorridorWindow.objects.get().starts_at == utc(2022, 5, 8, 5)

    @time_machine.travel(NOW, tick=False)
    def test_status_is_the_state_at_the_time_of_the_request(self, days):
        statuses = [row["status"] for row in api().get(url("window-list")).json()["results"]]
        assert statuses == ["closed", "open", "scheduled"]

    @time_machine.travel(NOW, tick=False)
    def test_a_cancelled_window_says_so_whatever_the_time(self, days):
        CorridorWindow.objects.filter(pk=days[1].pk).update(cancelled=True)
        body = api().get(url("window-detail", days[1].pk)).json()
        assert (body["status"], body["cancelled"]) == ("cancelled", True)

    @pytest.mark.parametrize(
        ("now", "status"),
        [
            (utc(2022, 5, 5, 4, 59, 59), "scheduled"),
            (utc(2022, 5, 5, 5), "open"),
            (utc(2022, 5, 5, 14, 59, 59), "open"),
            (utc(2022, 5, 5, 15), "closed"),
        ],
    )
    def test_a_window_is_open_from_its_start_until_just_before_its_end(self, window, now, status):
        with time_machine.travel(now, tick=False):
            assert api().get(url("window-detail", window.pk)).json()["status"] == status

    def test_status_and_flags_are_read_only(self, carol, window):
        body = {"status": "cancelled", "flagged": True, "open_flags": 3, "departed": 10, "local_starts_at": "x"}
        response = api(carol).patch(url("window-detail", window.pk), body, format="json")
        assert response.status_code == 200
        assert (response.json()["cancelled"], response.json()["flagged"], response.json()["open_flags"]) == (
            False,
            False,
            0,
        )
        assert response.json()["departed"] is None

    def test_a_window_without_movements_has_no_totals(self, window):
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["departed"], body["arrived"]) == (None, None)
        assert (body["departed_qualifier"], body["arrived_qualifier"]) == (None, None)

    def test_departed_and_arrived_sum_the_movements_linked_to_it(self, window, azovstal):
        corridor = window.corridor
        factories.DepartureFactory(origin=azovstal, corridor=corridor, window=window, count=60)
        factories.DepartureFactory(origin=azovstal, corridor=corridor, window=window, count=41)
        factories.DepartureFactory(origin=azovstal, corridor=corridor, window=None, count=1000)
        factories.ArrivalFactory(
            origin=azovstal, destination=corridor.destination, corridor=corridor, window=window, count=101
        )
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["departed"], body["arrived"]) == (101, 101)
        assert (body["departed_qualifier"], body["arrived_qualifier"]) == ("exact", "exact")
        assert body["arrived_counts_crossings"] is False

    def test_retracted_movements_are_left_out_of_the_totals(self, window, azovstal):
        factories.DepartureFactory(origin=azovstal, window=window, corridor=window.corridor, count=100)
        factories.DepartureFactory(
            origin=azovstal, window=window, corridor=window.corridor, count=900, verification="retracted"
        )
        factories.ArrivalFactory(origin=azovstal, window=window, corridor=window.corridor, verification="retracted")
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["departed"], body["arrived"]) == (100, None)

    def test_a_sum_of_estimates_is_qualified(self, window, azovstal):
        factories.DepartureFactory(origin=azovstal, window=window, count=100, qualifier="at_least")
        factories.DepartureFactory(origin=azovstal, window=window, count=20, qualifier="exact")
        crossing = factories.SiteFactory(name="Vasylivka checkpoint", kind="crossing")
        factories.ArrivalFactory(origin=azovstal, destination=crossing, window=window, count=90)
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["departed"], body["departed_qualifier"]) == (120, "at_least")
        assert body["arrived_counts_crossings"] is True

    def test_totals_are_given_in_lists_too(self, days, azovstal):
        factories.DepartureFactory(origin=azovstal, window=days[1], count=7)
        rows = api().get(url("window-list")).json()["results"]
        assert [row["departed"] for row in rows] == [None, 7, None]

    def test_flagged_and_open_flags_count_open_and_acknowledged_flags(self, window, azovstal, carol):
        reports = [shelling(azovstal, started_at=utc(2022, 5, 5, hour)) for hour in (6, 7, 8)]
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["flagged"], body["open_flags"]) == (True, 3)
        flags = {f.hostility_id: f for f in Flag.objects.all()}
        Flag.objects.filter(pk=flags[reports[0].pk].pk).update(status="acknowledged", reviewed_by=carol)
        Flag.objects.filter(pk=flags[reports[1].pk].pk).update(status="dismissed", review_note="another road")
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["flagged"], body["open_flags"]) == (True, 2)
        Flag.objects.filter(pk=flags[reports[2].pk].pk).update(status="withdrawn")
        Flag.objects.filter(pk=flags[reports[0].pk].pk).update(status="dismissed", review_note="old")
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["flagged"], body["open_flags"]) == (False, 0)


class TestFlagsFollowWrites:
    """Tasks run eagerly after the commit (the embedded default): the flag is there when the response returns."""

    def test_a_hostility_reported_through_the_api_flags_the_window_it_overlaps(
        self, alice, window, azovstal, django_capture_on_commit_callbacks
    ):
        report = {
            "site": azovstal.pk,
            "kind": "ground_assault",
            "started_at": "2022-05-05T10:00:00+03:00",
            "ended_at": "2022-05-05T12:00:00+03:00",
            "source": factories.SourceFactory(name="Azov regiment").pk,
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = api(alice).post(url("hostility-list"), report, format="json")
        assert response.status_code == 201
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["flagged"], body["open_flags"]) == (True, 1)
        [flag] = api().get(url("flag-list", window=window.pk)).json()["results"]
        assert (flag["hostility"], flag["overlap_start"], flag["overlap_end"], flag["certainty"]) == (
            response.json()["id"],
            "2022-05-05T07:00:00Z",
            "2022-05-05T09:00:00Z",
            "confirmed",
        )

    def test_a_hostility_elsewhere_flags_nothing(self, alice, window, django_capture_on_commit_callbacks):
        odesa = factories.SiteFactory(name="Odesa")
        report = {
            "site": odesa.pk,
            "kind": "missile_strike",
            "started_at": "2022-05-05T07:00:00Z",
            "source": factories.SourceFactory().pk,
        }
        with django_capture_on_commit_callbacks(execute=True):
            assert api(alice).post(url("hostility-list"), report, format="json").status_code == 201
        assert api().get(url("window-detail", window.pk)).json()["flagged"] is False

    def test_a_window_added_over_a_reported_hostility_is_flagged(
        self, carol, corridor, azovstal, django_capture_on_commit_callbacks
    ):
        factories.HostilityReportFactory(site=azovstal, started_at=utc(2022, 5, 8, 6))
        with django_capture_on_commit_callbacks(execute=True):
            response = api(carol).post(url("window-list"), new_window(corridor), format="json")
        assert response.status_code == 201
        assert api().get(url("window-detail", response.json()["id"])).json()["open_flags"] == 1

    def test_cancelling_a_window_withdraws_its_flags(self, carol, window, azovstal, django_capture_on_commit_callbacks):
        shelling(azovstal, started_at=utc(2022, 5, 5, 7))
        shelling(azovstal, started_at=utc(2022, 5, 5, 8))
        assert api().get(url("window-detail", window.pk)).json()["open_flags"] == 2
        with django_capture_on_commit_callbacks(execute=True):
            response = api(carol).patch(url("window-detail", window.pk), {"cancelled": True}, format="json")
        assert response.status_code == 200
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["status"], body["flagged"], body["open_flags"]) == ("cancelled", False, 0)
        assert set(Flag.objects.values_list("status", flat=True)) == {"withdrawn"}
        assert not FlagCheck.objects.exists()

    def test_moving_a_window_away_from_a_hostility_withdraws_its_flag(
        self, carol, window, azovstal, django_capture_on_commit_callbacks
    ):
        shelling(azovstal, started_at=utc(2022, 5, 5, 7))
        with django_capture_on_commit_callbacks(execute=True):
            api(carol).patch(
                url("window-detail", window.pk),
                {"starts_at": "2022-05-05T08:00:00Z", "ends_at": "2022-05-05T15:00:00Z"},
                format="json",
            )
        assert api().get(url("window-detail", window.pk)).json()["flagged"] is False
        assert Flag.objects.get().status == "withdrawn"


class TestValidation:
    """Each refusal is a 400 that says what is wrong, and writes nothing."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"starts_at": "2022-05-08T08:00:00"}, "starts_at"),
            ({"ends_at": "2022-05-08T18:00:00"}, "ends_at"),
            ({"starts_at": "8 May 2022, 08:00"}, "starts_at"),
            ({"starts_at": 1651989600}, "starts_at"),
            ({"corridor": 999_999}, "corridor"),
            ({"corridor": None}, "corridor"),
            ({"cancelled": "yes"}, "cancelled"),
            ({"ends_at": "2022-05-08T08:00:00+03:00"}, "ends_at"),
            ({"ends_at": "2022-05-08T07:59:59+03:00"}, "ends_at"),
        ],
    )
    def test_a_bad_window_is_a_400_naming_the_field(self, carol, corridor, fields, field):
        response = api(carol).post(url("window-list"), new_window(corridor, **fields), format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not CorridorWindow.objects.exists()
        assert not FlagCheck.objects.exists()

    def test_a_naive_instant_is_refused_with_a_reason(self, carol, corridor):
        response = api(carol).post(
            url("window-list"), new_window(corridor, starts_at="2022-05-08T08:00:00"), format="json"
        )
        assert "offset" in response.json()["starts_at"][0]

    @pytest.mark.parametrize("missing", ["corridor", "starts_at", "ends_at"])
    def test_corridor_and_both_ends_are_required(self, carol, corridor, missing):
        body = new_window(corridor)
        del body[missing]
        response = api(carol).post(url("window-list"), body, format="json")
        assert response.status_code == 400
        assert missing in response.json()

    @pytest.mark.parametrize(
        ("starts_at", "ends_at"),
        [
            ("2022-05-05T14:00:00Z", "2022-05-05T20:00:00Z"),
            ("2022-05-05T00:00:00Z", "2022-05-05T05:00:01Z"),
            ("2022-05-05T06:00:00Z", "2022-05-05T07:00:00Z"),
            ("2022-05-05T00:00:00Z", "2022-05-06T00:00:00Z"),
        ],
    )
    def test_a_window_may_not_overlap_another_live_window_of_the_corridor(self, carol, window, starts_at, ends_at):
        body = new_window(window.corridor, starts_at=starts_at, ends_at=ends_at)
        response = api(carol).post(url("window-list"), body, format="json")
        assert response.status_code == 400
        assert "overlaps another live window" in str(response.json())
        assert list(CorridorWindow.objects.all()) == [window]

    def test_a_second_window_with_the_same_start_is_refused(self, carol, window):
        body = new_window(window.corridor, starts_at="2022-05-05T08:00:00+03:00", ends_at="2022-05-05T09:00:00Z")
        response = api(carol).post(url("window-list"), body, format="json")
        assert response.status_code == 400
        assert "overlaps another live window" in response.json()["non_field_errors"][0]
        assert list(CorridorWindow.objects.all()) == [window]

    @pytest.mark.parametrize(
        ("starts_at", "ends_at"),
        [("2022-05-05T15:00:00Z", "2022-05-05T20:00:00Z"), ("2022-05-05T00:00:00Z", "2022-05-05T05:00:00Z")],
    )
    def test_a_window_touching_another_is_not_overlapping_it(self, carol, window, starts_at, ends_at):
        body = new_window(window.corridor, starts_at=starts_at, ends_at=ends_at)
        assert api(carol).post(url("window-list"), body, format="json").status_code == 201

    def test_a_cancelled_window_is_no_obstacle(self, carol, window):
        CorridorWindow.objects.filter(pk=window.pk).update(cancelled=True)
        body = new_window(window.corridor, starts_at="2022-05-05T05:00:00Z", ends_at="2022-05-05T15:00:00Z")
        assert api(carol).post(url("window-list"), body, format="json").status_code == 201

    def test_another_corridors_window_is_no_obstacle(self, carol, window):
        body = new_window(factories.CorridorFactory(), starts_at="2022-05-05T05:00:00Z", ends_at="2022-05-05T15:00:00Z")
        assert api(carol).post(url("window-list"), body, format="json").status_code == 201

    def test_moving_a_window_onto_another_is_refused_and_changes_nothing(self, carol, days):
        response = api(carol).patch(
            url("window-detail", days[2].pk), {"starts_at": "2022-05-06T14:00:00Z"}, format="json"
        )
        assert response.status_code == 400
        days[2].refresh_from_db()
        assert days[2].starts_at == utc(2022, 5, 7, 5)

    def test_a_patch_may_not_make_a_window_end_before_it_starts(self, carol, window):
        response = api(carol).patch(url("window-detail", window.pk), {"ends_at": "2022-05-05T04:00:00Z"}, format="json")
        assert response.status_code == 400
        assert "ends_at" in response.json()
        window.refresh_from_db()
        assert window.ends_at == utc(2022, 5, 5, 15)

    def test_restoring_a_cancelled_window_over_a_live_one_is_refused(self, carol, window):
        cancelled = factories.WindowFactory(
            corridor=window.corridor, starts_at=utc(2022, 5, 5, 10), ends_at=utc(2022, 5, 5, 20), cancelled=True
        )
        response = api(carol).patch(url("window-detail", cancelled.pk), {"cancelled": False}, format="json")
        assert response.status_code == 400
        cancelled.refresh_from_db()
        assert cancelled.cancelled is True


class TestFilters:
    def test_it_filters_on_the_corridor(self, days):
        other = factories.WindowFactory(starts_at=utc(2022, 5, 6, 5))
        assert ids(api().get(url("window-list", corridor=days[0].corridor_id))) == [w.pk for w in days]
        assert ids(api().get(url("window-list", corridor=other.corridor_id))) == [other.pk]

    @time_machine.travel(NOW, tick=False)
    @pytest.mark.parametrize(
        ("status", "which"), [("closed", [0]), ("open", [1]), ("scheduled", [2]), ("cancelled", [3])]
    )
    def test_it_filters_on_the_status_at_the_time_of_the_request(self, days, corridor, status, which):
        cancelled = factories.WindowFactory(
            corridor=corridor, starts_at=utc(2022, 5, 6, 6), ends_at=utc(2022, 5, 6, 7), cancelled=True
        )
        windows = [*days, cancelled]
        assert ids(api().get(url("window-list", status=status))) == [windows[i].pk for i in which]

    def test_the_status_filter_moves_with_the_clock(self, window):
        with time_machine.travel(utc(2022, 5, 5, 5), tick=False):
            assert ids(api().get(url("window-list", status="open"))) == [window.pk]
        with time_machine.travel(utc(2022, 5, 5, 15), tick=False):
            assert ids(api().get(url("window-list", status="open"))) == []
            assert ids(api().get(url("window-list", status="closed"))) == [window.pk]

    def test_it_filters_on_flagged(self, days, azovstal):
        shelling(azovstal, started_at=utc(2022, 5, 6, 7))
        assert ids(api().get(url("window-list", flagged="true"))) == [days[1].pk]
        assert ids(api().get(url("window-list", flagged="false"))) == [days[0].pk, days[2].pk]

    def test_a_dismissed_flag_does_not_make_a_window_flagged(self, days, azovstal):
        shelling(azovstal, started_at=utc(2022, 5, 6, 7))
        Flag.objects.update(status="dismissed", review_note="another road")
        assert ids(api().get(url("window-list", flagged="true"))) == []

    @pytest.mark.parametrize(
        ("query", "which"),
        [
            ({"since": "2022-05-06T15:00:00Z"}, [2]),
            ({"since": "2022-05-06T14:59:59Z"}, [1, 2]),
            ({"until": "2022-05-06T05:00:00Z"}, [0]),
            ({"until": "2022-05-06T05:00:01Z"}, [0, 1]),
            ({"since": "2022-05-06T05:00:00Z", "until": "2022-05-06T15:00:00Z"}, [1]),
            ({"since": "2022-05-05T15:00:00Z", "until": "2022-05-06T05:00:00Z"}, []),
            ({"since": "2022-05-06T12:00:00+03:00", "until": "2022-05-06T12:00:01+03:00"}, [1]),
            ({"since": "2022-05-05T00:00:00Z", "until": "2022-05-08T00:00:00Z"}, [0, 1, 2]),
        ],
    )
    def test_since_and_until_give_the_windows_overlapping_that_half_open_interval(self, days, query, which):
        assert ids(api().get(url("window-list", **query))) == [days[i].pk for i in which]

    def test_it_filters_on_updated_since(self, days):
        CorridorWindow.objects.filter(pk=days[0].pk).update(updated_at=utc(2022, 5, 9))
        CorridorWindow.objects.exclude(pk=days[0].pk).update(updated_at=utc(2022, 5, 1))
        assert ids(api().get(url("window-list", updated_since="2022-05-09T00:00:00Z"))) == [days[0].pk]

    @pytest.mark.parametrize(
        "query",
        [
            {"status": "closing"},
            {"flagged": "yes"},
            {"flagged": "1"},
            {"since": "2022-05-06T15:00:00"},
            {"until": "tomorrow"},
            {"corridor": "999999"},
            {"corridor": "Azovstal"},
            {"updated_since": "2022-05-06"},
        ],
    )
    def test_a_bad_filter_is_a_400_not_an_ignored_one(self, days, query):
        response = api().get(url("window-list", **query))
        assert response.status_code == 400
        assert set(query) <= set(response.json())

    def test_filters_combine(self, days, azovstal):
        shelling(azovstal, started_at=utc(2022, 5, 6, 7), ended_at=utc(2022, 5, 7, 7))
        query = {"corridor": days[0].corridor_id, "flagged": "true", "since": "2022-05-07T00:00:00Z"}
        assert ids(api().get(url("window-list", **query))) == [days[2].pk]
