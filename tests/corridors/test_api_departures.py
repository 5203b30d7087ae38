"""
`/api/v1/departures/` (docs/api.md): people who left through a corridor, counted at the
origin. Anyone reads them; a member of an organisation adds them for it and changes
its own; a coordinator also verifies or disputes anyone's; an admin does everything.
"""

from __future__ import annotations

import datetime as dt

import pytest

from corridors.models import Departure
from tests import factories
from tests.api import api, ids, persona, url

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


@pytest.fixture
def un(db):
    return factories.SourceFactory(name="UN OCHA", kind="un")


@pytest.fixture
def of_ngo_a(azovstal, un, ngo_a, alice):
    """A departure entered by alice for NGO A."""
    return factories.DepartureFactory(origin=azovstal, source=un, count=101, organisation=ngo_a, created_by=alice)


def new_departure(azovstal, un, /, **fields):
    return {
        "origin": azovstal.pk,
        "departed_at": "2022-05-05T09:30:00+03:00",
        "count": 101,
        "qualifier": "at_least",
        "source": un.pk,
    } | fields


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_anyone_reads_departures(self, request, who, of_ngo_a):
        client = api(persona(request, who))
        assert ids(client.get(url("departure-list"))) == [of_ngo_a.pk]
        assert client.get(url("departure-detail", of_ngo_a.pk)).json()["count"] == 101

    @pytest.mark.parametrize(
        ("who", "expected", "organisation"),
        [
            ("public", 401, None),
            ("alice", 201, "ngo_a"),
            ("bob", 201, "ngo_b"),
            ("carol", 201, "ngo_a"),
            ("dave", 201, None),
        ],
    )
    def test_staff_add_departures_for_their_own_organisation(self, request, who, expected, organisation, azovstal, un):
        user = persona(request, who)
        response = api(user).post(url("departure-list"), new_departure(azovstal, un), format="json")
        assert response.status_code == expected
        if expected == 201:
            org = request.getfixturevalue(organisation) if organisation else None
            assert (response.json()["organisation"], response.json()["created_by"]) == (
                org.pk if org else None,
                user.pk,
            )
            assert Departure.objects.get().organisation == org
        else:
            assert not Departure.objects.exists()

    def test_a_reporter_without_organisation_adds_nothing(self, azovstal, un):
        loner = factories.UserFactory(username="erin", organisation=None, role="reporter")
        response = api(loner).post(url("departure-list"), new_departure(azovstal, un), format="json")
        assert response.status_code == 403
        assert not Departure.objects.exists()

    def test_the_client_cannot_choose_the_organisation(self, alice, ngo_a, ngo_b, bob, azovstal, un):
        body = new_departure(azovstal, un, organisation=ngo_b.pk, created_by=bob.pk)
        created = api(alice).post(url("departure-list"), body, format="json").json()
        assert (created["organisation"], created["created_by"]) == (ngo_a.pk, alice.pk)

    @pytest.mark.parametrize("method", ["put", "patch"])
    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 200), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_their_organisation_and_admins_change_a_departure(
        self, request, who, expected, method, of_ngo_a, azovstal, un
    ):
        body = new_departure(azovstal, un, count=120)
        response = getattr(api(persona(request, who)), method)(
            url("departure-detail", of_ngo_a.pk), body, format="json"
        )
        assert response.status_code == expected
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.count == (120 if expected == 200 else 101)

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 204), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_their_organisation_and_admins_delete_a_departure(self, request, who, expected, of_ngo_a):
        response = api(persona(request, who)).delete(url("departure-detail", of_ngo_a.pk))
        assert response.status_code == expected
        assert Departure.objects.filter(pk=of_ngo_a.pk).exists() == (expected != 204)

    def test_a_coordinator_of_another_organisation_only_verifies(self, of_ngo_a, ngo_b):
        coordinator_b = factories.UserFactory(username="oleh", organisation=ngo_b, role="coordinator")
        client = api(coordinator_b)
        changed = client.patch(url("departure-detail", of_ngo_a.pk), {"count": 5}, format="json")
        assert changed.status_code == 403
        verified = client.patch(url("departure-detail", of_ngo_a.pk), {"verification": "verified"}, format="json")
        assert verified.status_code == 200
        of_ngo_a.refresh_from_db()
        assert (of_ngo_a.count, of_ngo_a.verification) == (101, "verified")
        assert client.delete(url("departure-detail", of_ngo_a.pk)).status_code == 403

    @pytest.mark.parametrize("verification", ["verified", "disputed"])
    def test_a_reporter_may_not_verify_or_dispute(self, alice, of_ngo_a, verification):
        response = api(alice).patch(url("departure-detail", of_ngo_a.pk), {"verification": verification}, format="json")
        assert response.status_code == 403
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.verification == "unverified"

    def test_a_reporter_may_retract_their_organisations_departure(self, alice, of_ngo_a):
        response = api(alice).patch(url("departure-detail", of_ngo_a.pk), {"verification": "retracted"}, format="json")
        assert (response.status_code, response.json()["verification"]) == (200, "retracted")


class TestFields:
    def test_instants_are_given_back_in_utc(self, alice, azovstal, un):
        body = api(alice).post(url("departure-list"), new_departure(azovstal, un), format="json").json()
        assert body["departed_at"] == "2022-05-05T06:30:00Z"
        assert Departure.objects.get().departed_at == utc(2022, 5, 5, 6, 30)

    def test_a_departure_in_a_window_takes_the_windows_corridor(self, alice, azovstal, un, window):
        body = api(alice).post(url("departure-list"), new_departure(azovstal, un, window=window.pk), format="json")
        assert (body.json()["window"], body.json()["corridor"]) == (window.pk, window.corridor_id)

    def test_corridor_and_window_are_optional(self, alice, azovstal, un):
        body = api(alice).post(url("departure-list"), new_departure(azovstal, un), format="json").json()
        assert (body["corridor"], body["window"]) == (None, None)

    def test_a_departure_linked_to_a_window_counts_in_its_total(self, alice, azovstal, un, window):
        api(alice).post(url("departure-list"), new_departure(azovstal, un, window=window.pk, count=60), format="json")
        api(alice).post(url("departure-list"), new_departure(azovstal, un, window=window.pk, count=41), format="json")
        assert api().get(url("window-detail", window.pk)).json()["departed"] == 101

    def test_the_history_records_who_changed_it(self, alice, carol, of_ngo_a):
        api(carol).patch(url("departure-detail", of_ngo_a.pk), {"verification": "verified"}, format="json")
        assert of_ngo_a.history.first().history_user == carol


class TestValidation:
    """Each refusal is a 400 that names the field, and writes nothing."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"departed_at": "2022-05-05T09:30:00"}, "departed_at"),
            ({"departed_at": "2022-05-05"}, "departed_at"),
            ({"origin": 999_999}, "origin"),
            ({"source": 999_999}, "source"),
            ({"corridor": 999_999}, "corridor"),
            ({"window": 999_999}, "window"),
            ({"origin": "1"}, "origin"),
            ({"qualifier": "roughly"}, "qualifier"),
            ({"verification": "confirmed"}, "verification"),
            ({"count": -1}, "count"),
            ({"count": "101"}, "count"),
            ({"count": 10.5}, "count"),
            ({"count": True}, "count"),
            ({"count": 2**31}, "count"),
        ],
    )
    def test_a_bad_departure_is_a_400_naming_the_field(self, alice, azovstal, un, fields, field):
        response = api(alice).post(url("departure-list"), new_departure(azovstal, un, **fields), format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not Departure.objects.exists()
        assert not Departure.history.exists()

    @pytest.mark.parametrize("missing", ["origin", "departed_at", "count", "source"])
    def test_origin_time_count_and_source_are_required(self, alice, azovstal, un, missing):
        body = new_departure(azovstal, un)
        del body[missing]
        response = api(alice).post(url("departure-list"), body, format="json")
        assert response.status_code == 400
        assert missing in response.json()

    def test_a_window_of_another_corridor_is_refused(self, alice, azovstal, un, window):
        other = factories.CorridorFactory(name="Mariupol → Berdiansk")
        body = new_departure(azovstal, un, corridor=other.pk, window=window.pk)
        response = api(alice).post(url("departure-list"), body, format="json")
        assert response.status_code == 400
        assert response.json()["window"] == ["This window belongs to another corridor."]
        assert not Departure.objects.exists()

    def test_moving_a_departure_into_another_corridors_window_changes_nothing(self, alice, of_ngo_a, window):
        other = factories.CorridorFactory(name="Mariupol → Berdiansk")
        Departure.objects.filter(pk=of_ngo_a.pk).update(corridor=other)
        response = api(alice).patch(url("departure-detail", of_ngo_a.pk), {"window": window.pk}, format="json")
        assert response.status_code == 400
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.window is None

    def test_a_naive_instant_is_refused_with_a_reason(self, alice, azovstal, un):
        body = new_departure(azovstal, un, departed_at="2022-05-05T09:30:00")
        response = api(alice).post(url("departure-list"), body, format="json")
        assert "offset" in response.json()["departed_at"][0]


class TestFilters:
    @pytest.fixture
    def movements(self, azovstal, corridor, window, un):
        """Four departures: two in the window, one on the corridor only, one from elsewhere."""
        mariupol = factories.SiteFactory(name="Mariupol")
        return {
            "early": factories.DepartureFactory(
                origin=azovstal, corridor=corridor, window=window, departed_at=utc(2022, 5, 5, 5), source=un
            ),
            "late": factories.DepartureFactory(
                origin=azovstal, corridor=corridor, window=window, departed_at=utc(2022, 5, 5, 14, 59), source=un
            ),
            "next_day": factories.DepartureFactory(
                origin=azovstal, corridor=corridor, departed_at=utc(2022, 5, 6, 6), source=un
            ),
            "elsewhere": factories.DepartureFactory(origin=mariupol, departed_at=utc(2022, 5, 4, 12), source=un),
        }

    def pks(self, movements, *names):
        return [movements[name].pk for name in names]

    def test_they_are_listed_newest_first(self, movements):
        assert ids(api().get(url("departure-list"))) == self.pks(movements, "next_day", "late", "early", "elsewhere")

    def test_it_filters_on_the_origin(self, movements, azovstal):
        assert ids(api().get(url("departure-list", origin=azovstal.pk))) == self.pks(
            movements, "next_day", "late", "early"
        )

    def test_it_filters_on_the_corridor(self, movements, corridor):
        assert ids(api().get(url("departure-list", corridor=corridor.pk))) == self.pks(
            movements, "next_day", "late", "early"
        )

    def test_it_filters_on_the_window(self, movements, window):
        assert ids(api().get(url("departure-list", window=window.pk))) == self.pks(movements, "late", "early")

    @pytest.mark.parametrize(
        ("query", "names"),
        [
            ({"since": "2022-05-05T05:00:00Z"}, ["next_day", "late", "early"]),
            ({"since": "2022-05-05T05:00:01Z"}, ["next_day", "late"]),
            ({"until": "2022-05-05T05:00:00Z"}, ["elsewhere"]),
            ({"until": "2022-05-05T05:00:01Z"}, ["early", "elsewhere"]),
            ({"since": "2022-05-05T08:00:00+03:00", "until": "2022-05-05T18:00:00+03:00"}, ["late", "early"]),
        ],
    )
    def test_since_is_inclusive_and_until_exclusive_on_the_departure_time(self, movements, query, names):
        assert ids(api().get(url("departure-list", **query))) == self.pks(movements, *names)

    def test_it_filters_on_updated_since(self, movements):
        Departure.objects.update(updated_at=utc(2022, 5, 1))
        Departure.objects.filter(pk=movements["early"].pk).update(updated_at=utc(2022, 5, 10))
        assert ids(api().get(url("departure-list", updated_since="2022-05-10T00:00:00Z"))) == self.pks(
            movements, "early"
        )

    @pytest.mark.parametrize(
        "query",
        [
            {"origin": "999999"},
            {"corridor": "x"},
            {"window": "999999"},
            {"since": "2022-05-05T05:00:00"},
            {"until": "soon"},
        ],
    )
    def test_a_bad_filter_is_a_400(self, movements, query):
        response = api().get(url("departure-list", **query))
        assert response.status_code == 400
        assert set(query) <= set(response.json())
