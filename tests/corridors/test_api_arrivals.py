"""
`/api/v1/arrivals/` (docs/api.md): people who reached a destination from an origin, maybe
through a corridor window. Anyone reads them; a member of an organisation adds them
for it and changes its own; a coordinator also verifies or disputes anyone's; an
admin does everything.
"""

from __future__ import annotations

import datetime as dt

import pytest

from corridors.models import Arrival, CorridorWaypoint
from tests import factories
from tests.api import api, ids, persona, url

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def zaporizhzhia(db):
    return factories.SiteFactory(name="Zaporizhzhia", kind="reception_centre")


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


@pytest.fixture
def un(db):
    return factories.SourceFactory(name="UN OCHA", kind="un")


@pytest.fixture
def of_ngo_a(azovstal, zaporizhzhia, un, ngo_a, alice):
    """An arrival entered by alice for NGO A."""
    return factories.ArrivalFactory(
        origin=azovstal, destination=zaporizhzhia, source=un, count=101, organisation=ngo_a, created_by=alice
    )


@pytest.fixture
def new_arrival(azovstal, zaporizhzhia, un):
    """The body of a POST: 101 people from Azovstal at least reached Zaporizhzhia, says the UN."""

    def make(**fields):
        return {
            "origin": azovstal.pk,
            "destination": zaporizhzhia.pk,
            "arrived_at": "2022-05-05T09:30:00+03:00",
            "count": 101,
            "qualifier": "at_least",
            "source": un.pk,
        } | fields

    return make


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_anyone_reads_arrivals(self, request, who, of_ngo_a):
        client = api(persona(request, who))
        assert ids(client.get(url("arrival-list"))) == [of_ngo_a.pk]
        assert client.get(url("arrival-detail", of_ngo_a.pk)).json()["count"] == 101

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
    def test_staff_add_arrivals_for_their_own_organisation(self, request, who, expected, organisation, new_arrival):
        user = persona(request, who)
        response = api(user).post(url("arrival-list"), new_arrival(), format="json")
        assert response.status_code == expected
        if expected == 201:
            org = request.getfixturevalue(organisation) if organisation else None
            assert (response.json()["organisation"], response.json()["created_by"]) == (
                org.pk if org else None,
                user.pk,
            )
            assert Arrival.objects.get().organisation == org
        else:
            assert not Arrival.objects.exists()

    def test_a_reporter_without_organisation_adds_nothing(self, new_arrival):
        loner = factories.UserFactory(username="erin", organisation=None, role="reporter")
        response = api(loner).post(url("arrival-list"), new_arrival(), format="json")
        assert response.status_code == 403
        assert not Arrival.objects.exists()

    def test_the_client_cannot_choose_the_organisation(self, alice, ngo_a, ngo_b, bob, new_arrival):
        body = new_arrival(organisation=ngo_b.pk, created_by=bob.pk)
        created = api(alice).post(url("arrival-list"), body, format="json").json()
        assert (created["organisation"], created["created_by"]) == (ngo_a.pk, alice.pk)

    @pytest.mark.parametrize("method", ["put", "patch"])
    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 200), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_their_organisation_and_admins_change_an_arrival(
        self, request, who, expected, method, of_ngo_a, new_arrival
    ):
        body = new_arrival(count=120)
        response = getattr(api(persona(request, who)), method)(url("arrival-detail", of_ngo_a.pk), body, format="json")
        assert response.status_code == expected
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.count == (120 if expected == 200 else 101)

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 204), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_their_organisation_and_admins_delete_an_arrival(self, request, who, expected, of_ngo_a):
        response = api(persona(request, who)).delete(url("arrival-detail", of_ngo_a.pk))
        assert response.status_code == expected
        assert Arrival.objects.filter(pk=of_ngo_a.pk).exists() == (expected != 204)

    def test_a_coordinator_of_another_organisation_only_verifies(self, of_ngo_a, ngo_b):
        coordinator_b = factories.UserFactory(username="oleh", organisation=ngo_b, role="coordinator")
        client = api(coordinator_b)
        changed = client.patch(url("arrival-detail", of_ngo_a.pk), {"count": 5}, format="json")
        assert changed.status_code == 403
        verified = client.patch(url("arrival-detail", of_ngo_a.pk), {"verification": "verified"}, format="json")
        assert verified.status_code == 200
        of_ngo_a.refresh_from_db()
        assert (of_ngo_a.count, of_ngo_a.verification) == (101, "verified")
        assert client.delete(url("arrival-detail", of_ngo_a.pk)).status_code == 403

    @pytest.mark.parametrize("verification", ["verified", "disputed"])
    def test_a_reporter_may_not_verify_or_dispute(self, alice, of_ngo_a, verification):
        response = api(alice).patch(url("arrival-detail", of_ngo_a.pk), {"verification": verification}, format="json")
        assert response.status_code == 403
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.verification == "unverified"

    def test_a_reporter_may_retract_their_organisations_arrival(self, alice, of_ngo_a):
        response = api(alice).patch(url("arrival-detail", of_ngo_a.pk), {"verification": "retracted"}, format="json")
        assert (response.status_code, response.json()["verification"]) == (200, "retracted")


class TestFields:
    def test_instants_are_given_back_in_utc(self, alice, new_arrival):
        body = api(alice).post(url("arrival-list"), new_arrival(), format="json").json()
        assert body["arrived_at"] == "2022-05-05T06:30:00Z"
        assert Arrival.objects.get().arrived_at == utc(2022, 5, 5, 6, 30)

    def test_an_arrival_in_a_window_takes_the_windows_corridor(self, alice, new_arrival, window):
        body = api(alice).post(url("arrival-list"), new_arrival(window=window.pk), format="json")
        assert (body.json()["window"], body.json()["corridor"]) == (window.pk, window.corridor_id)

    def test_corridor_and_window_are_optional(self, alice, new_arrival):
        body = api(alice).post(url("arrival-list"), new_arrival(), format="json").json()
        assert (body["corridor"], body["window"]) == (None, None)

    def test_arrivals_at_a_crossing_are_counted_as_crossings(self, alice, new_arrival, window):
        checkpoint = factories.SiteFactory(name="Vasylivka checkpoint", kind="crossing")
        CorridorWaypoint.objects.create(corridor=window.corridor, site=checkpoint, position=1)
        api(alice).post(url("arrival-list"), new_arrival(destination=checkpoint.pk, window=window.pk), format="json")
        body = api().get(url("window-detail", window.pk)).json()
        assert (body["arrived"], body["arrived_counts_crossings"]) == (101, True)

    def test_an_arrival_linked_to_a_window_counts_in_its_total(self, alice, new_arrival, window):
        api(alice).post(url("arrival-list"), new_arrival(window=window.pk, count=60), format="json")
        api(alice).post(url("arrival-list"), new_arrival(window=window.pk, count=41), format="json")
        assert api().get(url("window-detail", window.pk)).json()["arrived"] == 101

    def test_the_history_records_who_changed_it(self, alice, carol, of_ngo_a):
        api(carol).patch(url("arrival-detail", of_ngo_a.pk), {"verification": "verified"}, format="json")
        assert of_ngo_a.history.first().history_user == carol


class TestValidation:
    """Each refusal is a 400 that names the field, and writes nothing."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"arrived_at": "2022-05-05T09:30:00"}, "arrived_at"),
            ({"arrived_at": "2022-05-05"}, "arrived_at"),
            ({"origin": 999_999}, "origin"),
            ({"source": 999_999}, "source"),
            ({"corridor": 999_999}, "corridor"),
            ({"window": 999_999}, "window"),
            ({"destination": 999_999}, "destination"),
            ({"destination": None}, "destination"),
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
    def test_a_bad_arrival_is_a_400_naming_the_field(self, alice, new_arrival, fields, field):
        response = api(alice).post(url("arrival-list"), new_arrival(**fields), format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not Arrival.objects.exists()
        assert not Arrival.history.exists()

    @pytest.mark.parametrize("missing", ["origin", "destination", "arrived_at", "count", "source"])
    def test_origin_destination_time_count_and_source_are_required(self, alice, new_arrival, missing):
        body = new_arrival()
        del body[missing]
        response = api(alice).post(url("arrival-list"), body, format="json")
        assert response.status_code == 400
        assert missing in response.json()

    def test_a_window_of_another_corridor_is_refused(self, alice, new_arrival, window):
        other = factories.CorridorFactory(name="Mariupol → Berdiansk")
        body = new_arrival(corridor=other.pk, window=window.pk)
        response = api(alice).post(url("arrival-list"), body, format="json")
        assert response.status_code == 400
        assert response.json()["window"] == ["This window belongs to another corridor."]
        assert not Arrival.objects.exists()

    def test_moving_an_arrival_into_another_corridors_window_changes_nothing(self, alice, of_ngo_a, window):
        other = factories.CorridorFactory(name="Mariupol → Berdiansk")
        Arrival.objects.filter(pk=of_ngo_a.pk).update(corridor=other)
        response = api(alice).patch(url("arrival-detail", of_ngo_a.pk), {"window": window.pk}, format="json")
        assert response.status_code == 400
        of_ngo_a.refresh_from_db()
        assert of_ngo_a.window is None

    def test_a_naive_instant_is_refused_with_a_reason(self, alice, new_arrival):
        body = new_arrival(arrived_at="2022-05-05T09:30:00")
        response = api(alice).post(url("arrival-list"), body, format="json")
        assert "offset" in response.json()["arrived_at"][0]


class TestFilters:
    @pytest.fixture
    def movements(self, azovstal, zaporizhzhia, corridor, window, un):
        """
        Five arrivals: two in the window, one on the corridor only, one that went on to
        Dnipro, one from elsewhere.
        """
        mariupol, dnipro = factories.SiteFactory(name="Mariupol"), factories.SiteFactory(name="Dnipro")
        at_zaporizhzhia = {"destination": zaporizhzhia, "source": un}
        return {
            "early": factories.ArrivalFactory(
                origin=azovstal, corridor=corridor, window=window, arrived_at=utc(2022, 5, 5, 5), **at_zaporizhzhia
            ),
            "late": factories.ArrivalFactory(
                origin=azovstal, corridor=corridor, window=window, arrived_at=utc(2022, 5, 5, 14, 59), **at_zaporizhzhia
            ),
            "next_day": factories.ArrivalFactory(
                origin=azovstal, corridor=corridor, arrived_at=utc(2022, 5, 6, 6), **at_zaporizhzhia
            ),
            "dnipro": factories.ArrivalFactory(
                origin=azovstal, destination=dnipro, arrived_at=utc(2022, 5, 6, 4), source=un
            ),
            "elsewhere": factories.ArrivalFactory(origin=mariupol, arrived_at=utc(2022, 5, 4, 12), **at_zaporizhzhia),
        }

    def pks(self, movements, *names):
        return [movements[name].pk for name in names]

    def test_they_are_listed_newest_first(self, movements):
        assert ids(api().get(url("arrival-list"))) == self.pks(
            movements, "next_day", "dnipro", "late", "early", "elsewhere"
        )

    def test_it_filters_on_the_origin(self, movements, azovstal):
        assert ids(api().get(url("arrival-list", origin=azovstal.pk))) == self.pks(
            movements, "next_day", "dnipro", "late", "early"
        )

    def test_it_filters_on_the_destination(self, movements, zaporizhzhia):
        assert ids(api().get(url("arrival-list", destination=zaporizhzhia.pk))) == self.pks(
            movements, "next_day", "late", "early", "elsewhere"
        )
        dnipro = movements["dnipro"].destination_id
        assert ids(api().get(url("arrival-list", destination=dnipro))) == self.pks(movements, "dnipro")

    def test_origin_and_destination_combine(self, movements, azovstal, zaporizhzhia):
        query = {"origin": azovstal.pk, "destination": zaporizhzhia.pk, "until": "2022-05-06T00:00:00Z"}
        assert ids(api().get(url("arrival-list", **query))) == self.pks(movements, "late", "early")

    def test_it_filters_on_the_corridor(self, movements, corridor):
        assert ids(api().get(url("arrival-list", corridor=corridor.pk))) == self.pks(
            movements, "next_day", "late", "early"
        )

    def test_it_filters_on_the_window(self, movements, window):
        assert ids(api().get(url("arrival-list", window=window.pk))) == self.pks(movements, "late", "early")

    @pytest.mark.parametrize(
        ("query", "names"),
        [
            ({"since": "2022-05-05T05:00:00Z"}, ["next_day", "dnipro", "late", "early"]),
            ({"since": "2022-05-05T05:00:01Z"}, ["next_day", "dnipro", "late"]),
            ({"until": "2022-05-05T05:00:00Z"}, ["elsewhere"]),
            ({"until": "2022-05-05T05:00:01Z"}, ["early", "elsewhere"]),
            ({"since": "2022-05-05T08:00:00+03:00", "until": "2022-05-05T18:00:00+03:00"}, ["late", "early"]),
        ],
    )
    def test_since_is_inclusive_and_until_exclusive_on_the_arrival_time(self, movements, query, names):
        assert ids(api().get(url("arrival-list", **query))) == self.pks(movements, *names)

    def test_it_filters_on_updated_since(self, movements):
        Arrival.objects.update(updated_at=utc(2022, 5, 1))
        Arrival.objects.filter(pk=movements["early"].pk).update(updated_at=utc(2022, 5, 10))
        assert ids(api().get(url("arrival-list", updated_since="2022-05-10T00:00:00Z"))) == self.pks(movements, "early")

    @pytest.mark.parametrize(
        "query",
        [
            {"origin": "999999"},
            {"destination": "999999"},
            {"corridor": "x"},
            {"window": "999999"},
            {"since": "2022-05-05T05:00:00"},
            {"until": "soon"},
        ],
    )
    def test_a_bad_filter_is_a_400(self, movements, query):
        response = api().get(url("arrival-list", **query))
        assert response.status_code == 400
        assert set(query) <= set(response.json())
