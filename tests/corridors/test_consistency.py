"""
Departures and arrivals cannot contradict their corridor and window (docs/design.md,
"Figures and where they come from"; docs/api.md, "Validation"): the same refusal, on
the same field, through the API, the staff quick forms and the admin; a coordinator
may accept a real exception with a recorded reason.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from corridors import consistency, services
from corridors.models import Arrival, CorridorWaypoint, CorridorWindow, Departure
from tests import factories
from tests.api import api, url
from tests.paths import PATHS, enter
from tracker import services as tracker_services

pytestmark = pytest.mark.django_db
UTC = dt.UTC
FUTURE = "This time is in the future: a figure reports what has happened. Check the year and the date."


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def places(db):
    donetsk = factories.SiteFactory(name="Donetsk oblast", kind="region")
    mariupol = factories.SiteFactory(name="Mariupol", parent=donetsk)
    return {
        "mariupol": mariupol,
        "azovstal": factories.SiteFactory(name="Azovstal", kind="shelter", parent=mariupol),
        "bunker": None,  # filled below: a shelter inside the plant
        "vasylivka": factories.SiteFactory(name="Vasylivka"),
        "zaporizhzhia": factories.SiteFactory(name="Zaporizhzhia"),
        "odesa": factories.SiteFactory(name="Odesa"),
    }


@pytest.fixture
def corridor(places):
    places["bunker"] = factories.SiteFactory(name="Bunker 3", kind="shelter", parent=places["azovstal"])
    corridor = factories.CorridorFactory(
        name="Azovstal → Zaporizhzhia", origin=places["azovstal"], destination=places["zaporizhzhia"]
    )
    CorridorWaypoint.objects.create(corridor=corridor, site=places["vasylivka"], position=1)
    return corridor


@pytest.fixture
def window(corridor):
    """08:00–18:00 Kyiv time on 6 May 2022."""
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 5), ends_at=utc(2022, 5, 6, 15))


@pytest.fixture
def source(db):
    return factories.SourceFactory(name="Field team")


def departure(places, source, **values):
    return {
        "origin": places["azovstal"],
        "departed_at": utc(2022, 5, 6, 8),
        "count": 50,
        "qualifier": "exact",
        "source": source,
        **values,
    }


def arrival(places, source, **values):
    return {
        "origin": places["azovstal"],
        "destination": places["zaporizhzhia"],
        "arrived_at": utc(2022, 5, 7, 12),
        "count": 41,
        "qualifier": "exact",
        "source": source,
        **values,
    }


@pytest.mark.parametrize(
    ("lineage", "stops", "expected"),
    [
        ([1], [1, 2], True),  # a stop
        ([3, 1], [1, 2], True),  # inside a stop
        ([4, 3, 1], [1, 2], True),  # inside a site inside a stop
        ([1], [2], False),  # the origin is not where people arrive
        ([5], [1, 2], False),
        ([], [1], False),
    ],
)
def test_a_site_is_at_a_stop_when_it_or_a_site_around_it_is(lineage, stops, expected):
    assert consistency.at_a_stop(lineage, stops) is expected


@pytest.mark.parametrize(
    ("moment", "departs", "arrives"),
    [
        (utc(2022, 5, 6, 4, 59), False, False),  # before the window
        (utc(2022, 5, 6, 5), True, True),  # at its start
        (utc(2022, 5, 6, 14, 59), True, True),
        (utc(2022, 5, 6, 15), False, True),  # at its end: half-open for a departure
        (utc(2022, 5, 9, 14, 59), False, True),  # within 72 hours after the end
        (utc(2022, 5, 9, 15), False, False),  # 72 hours after: no longer
    ],
)
def test_the_window_margins(moment, departs, arrives):
    start, end, margin = utc(2022, 5, 6, 5), utc(2022, 5, 6, 15), dt.timedelta(hours=72)
    assert consistency.departure_in_window(moment, start, end) is departs
    assert consistency.arrival_in_window(moment, start, end, margin) is arrives


@pytest.mark.parametrize("path", PATHS)
class TestEverywhere:
    """Each rule refuses through every path staff enter figures by, on the field it is about."""

    def test_a_departure_on_the_path_inside_its_window_is_taken(self, path, alice, places, window, source):
        assert enter(path, alice, "departure", **departure(places, source, window=window)).ok
        assert Departure.objects.get().corridor == window.corridor

    def test_a_departure_from_a_shelter_inside_a_stop_is_taken(self, path, alice, places, window, source):
        assert enter(path, alice, "departure", **departure(places, source, window=window, origin=places["bunker"])).ok

    def test_a_departure_from_off_the_path_is_refused(self, path, alice, places, window, source):
        outcome = enter(path, alice, "departure", **departure(places, source, window=window, origin=places["odesa"]))
        assert not outcome.ok
        (message,) = outcome.errors["origin"]
        assert "Odesa is not where people leave through the corridor Azovstal → Zaporizhzhia" in message
        assert "Azovstal or Vasylivka" in message
        assert "a coordinator can accept it" in message

    def test_a_departure_from_the_destination_is_refused(self, path, alice, places, window, source):
        outcome = enter(
            path, alice, "departure", **departure(places, source, window=window, origin=places["zaporizhzhia"])
        )
        assert "origin" in outcome.errors

    def test_a_departure_a_week_after_its_window_is_refused(self, path, alice, places, window, source):
        outcome = enter(
            path, alice, "departure", **departure(places, source, window=window, departed_at=utc(2022, 5, 13, 8))
        )
        (message,) = outcome.errors["departed_at"]
        assert (
            "People leave through a window while it is open, from 2022-05-06 08:00+03:00 to 2022-05-06 18:00+03:00"
            in message
        )

    def test_an_arrival_on_the_path_within_the_margin_is_taken(self, path, alice, places, window, source):
        # Two days after the window closed, as the Azovstal convoys reached Zaporizhzhia.
        values = arrival(places, source, window=window, arrived_at=utc(2022, 5, 8, 14))
        assert enter(path, alice, "arrival", **values).ok

    def test_an_arrival_at_a_waypoint_is_taken(self, path, alice, places, window, source):
        assert enter(
            path, alice, "arrival", **arrival(places, source, window=window, destination=places["vasylivka"])
        ).ok

    def test_an_arrival_off_the_path_is_refused(self, path, alice, places, window, source):
        outcome = enter(path, alice, "arrival", **arrival(places, source, window=window, destination=places["odesa"]))
        (message,) = outcome.errors["destination"]
        assert "Odesa is not where people arrive through the corridor" in message
        assert "Vasylivka or Zaporizhzhia" in message

    def test_an_arrival_at_its_own_origin_is_refused(self, path, alice, places, source):
        outcome = enter(
            path, alice, "arrival", **arrival(places, source, destination=places["azovstal"], origin=places["azovstal"])
        )
        assert outcome.errors["destination"] == ["The destination must differ from the origin."]

    def test_an_arrival_days_before_its_window_opened_is_refused(self, path, alice, places, window, source):
        outcome = enter(
            path, alice, "arrival", **arrival(places, source, window=window, arrived_at=utc(2022, 5, 3, 12))
        )
        (message,) = outcome.errors["arrived_at"]
        assert (
            "from its start, 2022-05-06 08:00+03:00, to 72 hours after its end: until 2022-05-09 18:00+03:00" in message
        )

    def test_an_arrival_after_the_margin_is_refused(self, path, alice, places, window, source):
        outcome = enter(
            path, alice, "arrival", **arrival(places, source, window=window, arrived_at=utc(2022, 5, 9, 15))
        )
        assert "arrived_at" in outcome.errors

    def test_the_arrival_margin_is_a_setting(self, path, alice, places, window, source, settings):
        settings.ARRIVAL_WINDOW_MARGIN_HOURS = 24
        outcome = enter(
            path, alice, "arrival", **arrival(places, source, window=window, arrived_at=utc(2022, 5, 8, 14))
        )
        assert "24 hours after its end" in outcome.errors["arrived_at"][0]

    @pytest.mark.parametrize("kind", ["departure", "arrival"])
    def test_a_movement_through_a_window_that_has_not_opened_is_refused(
        self, path, kind, alice, places, corridor, source
    ):
        tomorrow = timezone.now() + dt.timedelta(days=1)
        future = factories.WindowFactory(
            corridor=corridor, starts_at=tomorrow, ends_at=tomorrow + dt.timedelta(hours=10)
        )
        moment = timezone.now() - dt.timedelta(hours=1)
        values = (
            departure(places, source, window=future, departed_at=moment)
            if kind == "departure"
            else arrival(places, source, window=future, arrived_at=moment)
        )
        outcome = enter(path, alice, kind, **values)
        (message,) = outcome.errors["window"]
        assert message.startswith("This window has not opened yet (it opens ")

    @pytest.mark.parametrize("kind", ["departure", "arrival"])
    def test_a_movement_in_the_future_is_refused(self, path, kind, alice, places, source):
        moment = timezone.now() + dt.timedelta(days=365 * 3)
        values = (
            departure(places, source, departed_at=moment)
            if kind == "departure"
            else arrival(places, source, arrived_at=moment)
        )
        outcome = enter(path, alice, kind, **values)
        assert outcome.errors["departed_at" if kind == "departure" else "arrived_at"] == [FUTURE]

    def test_a_small_clock_skew_is_allowed(self, path, alice, places, source):
        # The phone's clock runs two minutes ahead of the server's.
        assert enter(
            path, alice, "departure", **departure(places, source, departed_at=timezone.now() + dt.timedelta(minutes=2))
        ).ok

    def test_a_coordinator_accepts_an_exception_with_a_reason(self, path, carol, places, window, source):
        values = departure(
            places,
            source,
            window=window,
            origin=places["odesa"],
            override_reason="The convoy picked people up in Odesa, off its announced path (UN report).",
        )
        assert enter(path, carol, "departure", **values).ok
        saved = Departure.objects.get()
        assert saved.override_reason.startswith("The convoy picked people up")
        assert saved.history.get().history_user == carol  # who accepted it, and when

    def test_a_reporter_cannot_accept_an_exception(self, path, alice, places, window, source):
        values = departure(places, source, window=window, origin=places["odesa"], override_reason="Because I say so.")
        outcome = enter(path, alice, "departure", **values)
        assert not outcome.ok
        if path == "api":
            assert outcome.status == 403
            assert "Only a coordinator can accept" in outcome.messages()
        else:
            # The field is not on a reporter's form (a quick form) or is read only (the admin): the rule stands.
            assert "origin" in outcome.errors


@pytest.mark.parametrize("path", ["api", "admin"])
def test_a_window_of_another_corridor_is_refused(path, alice, places, window, source):
    other = factories.WindowFactory(starts_at=utc(2022, 5, 6, 5))
    outcome = enter(path, alice, "departure", **departure(places, source, window=other, corridor=window.corridor))
    assert outcome.errors["window"] == ["This window belongs to another corridor."]


def test_the_database_refuses_an_arrival_at_its_own_origin(places, source):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ArrivalFactory(origin=places["azovstal"], destination=places["azovstal"], source=source)


class TestOverride:
    """The override is a coordinator's, about where and when: it stays with everything else."""

    @pytest.fixture
    def accepted(self, carol, places, window, source):
        figure = Departure(
            **departure(
                places, source, window=window, origin=places["odesa"], override_reason="Picked up off the path."
            )
        )
        return tracker_services.figure_save(figure=figure, user=carol)

    def test_a_reporter_of_its_organisation_may_correct_its_count(self, accepted, alice):
        accepted.count = 55
        tracker_services.figure_save(figure=accepted, user=alice)
        accepted.refresh_from_db()
        assert (accepted.count, accepted.override_reason) == (55, "Picked up off the path.")

    def test_a_reporters_change_of_the_place_clears_it_and_is_checked_afresh(self, accepted, alice, places):
        accepted.origin = places["bunker"]  # inside Azovstal: on the path after all
        tracker_services.figure_save(figure=accepted, user=alice)
        accepted.refresh_from_db()
        assert accepted.override_reason == ""
        assert [h.override_reason for h in accepted.history.order_by("history_id")] == ["Picked up off the path.", ""]

    def test_a_reporters_change_to_another_off_path_place_is_refused(self, accepted, alice, places):
        accepted.origin = places["zaporizhzhia"]
        with pytest.raises(ValidationError) as error:
            tracker_services.figure_save(figure=accepted, user=alice)
        assert "origin" in error.value.message_dict
        accepted.refresh_from_db()
        assert accepted.origin == places["odesa"]

    def test_a_reporter_may_not_remove_it(self, accepted, alice):
        accepted.override_reason = ""
        with pytest.raises(PermissionDenied):
            tracker_services.figure_save(figure=accepted, user=alice)

    def test_it_is_in_the_api(self, accepted):
        assert api().get(url("departure-detail", accepted.pk)).json()["override_reason"] == "Picked up off the path."


class TestChangesToTheCorridor:
    """A window or a path may not change so that the figures already given for it contradict it."""

    @pytest.fixture
    def left(self, alice, places, window, source):
        return tracker_services.figure_save(figure=Departure(**departure(places, source, window=window)), user=alice)

    def test_a_window_cannot_move_away_from_its_departures(self, left, carol, window):
        window.starts_at, window.ends_at = utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)
        with pytest.raises(ValidationError, match="would leave figures given for it contradicting it"):
            services.window_save(window=window, user=carol)
        response = api(carol).patch(
            url("window-detail", window.pk), {"starts_at": "2022-05-07T05:00:00Z", "ends_at": "2022-05-07T15:00:00Z"}
        )
        assert response.status_code == 400
        assert "departure" in str(response.json())
        window.refresh_from_db()
        assert window.starts_at == utc(2022, 5, 6, 5)

    def test_a_window_may_grow_around_them(self, left, carol, window):
        window.ends_at = utc(2022, 5, 6, 16)
        services.window_save(window=window, user=carol)
        assert CorridorWindow.objects.get().ends_at == utc(2022, 5, 6, 16)

    def test_the_path_cannot_drop_the_stop_people_left_from(self, carol, alice, places, window, source):
        tracker_services.figure_save(
            figure=Departure(**departure(places, source, window=window, origin=places["vasylivka"])), user=alice
        )
        response = api(carol).patch(url("corridor-detail", window.corridor.pk), {"waypoints": []}, format="json")
        assert response.status_code == 400
        assert "waypoints" in response.json()
        assert list(window.corridor.corridor_waypoints.values_list("site", flat=True)) == [places["vasylivka"].pk]

    def test_the_path_cannot_move_its_destination_from_under_arrivals(self, carol, alice, places, window, source):
        tracker_services.figure_save(figure=Arrival(**arrival(places, source, window=window)), user=alice)
        corridor = window.corridor
        corridor.destination = places["odesa"]
        with pytest.raises(ValidationError, match="arrival"):
            services.corridor_save(corridor=corridor, user=carol)

    def test_the_admin_says_so_on_the_corridor_page(self, login, carol, alice, places, window, source):
        from django.urls import reverse

        tracker_services.figure_save(
            figure=Departure(**departure(places, source, window=window, origin=places["vasylivka"])), user=alice
        )
        corridor = window.corridor
        data = {
            "name": corridor.name,
            "origin": corridor.origin_id,
            "destination": corridor.destination_id,
            "status": corridor.status,
            "announced_by": "",
            "announced_at_0": "",
            "announced_at_1": "",
            "verification": "unverified",
            "corridor_waypoints-TOTAL_FORMS": "1",
            "corridor_waypoints-INITIAL_FORMS": "1",
            "corridor_waypoints-0-id": corridor.corridor_waypoints.get().pk,
            "corridor_waypoints-0-corridor": corridor.pk,
            "corridor_waypoints-0-position": "1",
            "corridor_waypoints-0-site": places["vasylivka"].pk,
            "corridor_waypoints-0-DELETE": "on",
            "windows-TOTAL_FORMS": "1",
            "windows-INITIAL_FORMS": "1",
            "windows-0-id": window.pk,
            "windows-0-corridor": corridor.pk,
            "windows-0-starts_at_0": "2022-05-06",
            "windows-0-starts_at_1": "08:00:00",
            "windows-0-ends_at_0": "2022-05-06",
            "windows-0-ends_at_1": "18:00:00",
        }
        response = login(carol).post(reverse("admin:corridors_corridor_change", args=[corridor.pk]), data)
        assert response.status_code == 200
        assert "would leave figures given for it contradicting it" in response.content.decode()
        assert corridor.corridor_waypoints.count() == 1
