"""
`/api/v1/counts/`: how many civilians are at a site as of a time. Public to read;
staff add them for their own organisation and edit only their organisation's; a
coordinator may change only the verification of another organisation's count.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import CivilianCount, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/counts/"
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def detail(count) -> str:
    return f"{URL}{count.pk}/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal", kind="shelter")


@pytest.fixture
def mayor(db):
    return factories.SourceFactory(name="Mayor of Mariupol", kind="official")


@pytest.fixture
def payload(azovstal, mayor):
    """What a reporter sends for "an estimated 200 under the plant, said the mayor at noon local time"."""
    return {
        "site": azovstal.pk,
        "as_of": "2022-05-04T12:00:00+03:00",
        "count": 200,
        "qualifier": "approximately",
        "source": mayor.pk,
    }


@pytest.fixture
def alices_count(alice, azovstal, mayor):
    return factories.CivilianCountFactory(
        site=azovstal, source=mayor, count=200, organisation=alice.organisation, created_by=alice
    )


@pytest.fixture
def bobs_count(bob, azovstal, mayor):
    return factories.CivilianCountFactory(
        site=azovstal, source=mayor, count=150, organisation=bob.organisation, created_by=bob
    )


class TestReading:
    def test_the_public_reads_counts_with_times_in_utc(self, api, alices_count, azovstal, mayor, alice):
        response = api().get(detail(alices_count))
        assert response.status_code == 200
        assert response.json() == {
            "id": alices_count.pk,
            "created_at": "2022-05-06T09:00:00Z",
            "updated_at": "2022-05-06T09:00:00Z",
            "site": azovstal.pk,
            "as_of": "2022-05-04T09:00:00Z",
            "count": 200,
            "count_high": None,
            "qualifier": "approximately",
            "source": mayor.pk,
            "reported_at": None,
            "verification": "unverified",
            "organisation": alice.organisation_id,
            "created_by": None,  # the public sees the organisation, never the person
        }
        assert ids(api().get(URL)) == [alices_count.pk]

    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_everyone_reads_counts_logged_in_or_not(self, api, request, alices_count, who):
        client = api(persona(request, who))
        assert client.get(URL).status_code == 200
        assert client.get(detail(alices_count)).status_code == 200

    def test_the_list_is_newest_first(self, api, azovstal):
        older = factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 3, tzinfo=UTC))
        newer = factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 4, tzinfo=UTC))
        same_time = factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 4, tzinfo=UTC))
        assert ids(api().get(URL)) == [same_time.pk, newer.pk, older.pk]

    def test_the_csv_has_an_hxl_hashtag_row_that_tags_every_column(self, api, alices_count):
        response = api().get(URL, {"format": "csv"})
        rows = csv_rows(response)
        header = dict(zip(rows[0], rows[1], strict=True))
        assert (header["count"], header["count_high"], header["site"]) == (
            "#affected+num",
            "#affected+num+max",
            "#loc+id",
        )
        dataset = hxl_data(response)
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]
        assert [(row.get("#affected+num"), row.get("#affected+qualifier")) for row in dataset] == [
            ("200", "approximately")
        ]
        # A tool asking for the table's #date gets what the count is about, not when it was entered.
        assert [row.get("#date") for row in hxl_data(response)] == ["2022-05-04T09:00:00Z"]

    def test_the_list_costs_the_same_queries_whatever_the_page_size(self, api):
        for i in range(30):
            organisation = factories.OrganisationFactory()
            factories.CivilianCountFactory(
                organisation=organisation,
                created_by=factories.UserFactory(organisation=organisation),
                as_of=dt.datetime(2022, 5, 4, tzinfo=UTC) + dt.timedelta(hours=i),
            )
        assert list_queries(api(), URL, 3) == list_queries(api(), URL, 30)


class TestFilters:
    @pytest.fixture
    def counts(self, azovstal):
        odesa = factories.SiteFactory(name="Odesa")
        return {
            "may3": factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 3, 9, tzinfo=UTC)),
            "may4": factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 4, 9, tzinfo=UTC)),
            "may5": factories.CivilianCountFactory(site=azovstal, as_of=dt.datetime(2022, 5, 5, 9, tzinfo=UTC)),
            "odesa": factories.CivilianCountFactory(site=odesa, as_of=dt.datetime(2022, 5, 4, 10, tzinfo=UTC)),
        }

    def test_counts_filter_by_site(self, api, counts, azovstal):
        assert ids(api().get(URL, {"site": azovstal.pk})) == [counts[d].pk for d in ("may5", "may4", "may3")]
        assert ids(api().get(URL, {"site": counts["odesa"].site_id})) == [counts["odesa"].pk]

    def test_since_includes_a_count_as_of_that_very_instant(self, api, counts):
        response = api().get(URL, {"since": "2022-05-04T12:00:00+03:00"})
        assert ids(response) == [counts["may5"].pk, counts["odesa"].pk, counts["may4"].pk]

    def test_until_excludes_a_count_as_of_that_very_instant(self, api, counts):
        response = api().get(URL, {"until": "2022-05-04T09:00:00Z"})
        assert ids(response) == [counts["may3"].pk]

    def test_since_and_until_give_the_counts_as_of_the_half_open_range(self, api, counts, azovstal):
        query = {"site": azovstal.pk, "since": "2022-05-04T00:00:00Z", "until": "2022-05-05T09:00:00Z"}
        assert ids(api().get(URL, query)) == [counts["may4"].pk]

    def test_updated_since_gives_only_the_counts_changed_at_or_after_it(self, api, counts):
        with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
            counts["may3"].count = 190
            counts["may3"].save()
        assert ids(api().get(URL, {"updated_since": "2022-05-06T10:00:00Z"})) == [counts["may3"].pk]

    @pytest.mark.parametrize(
        "query",
        [
            {"since": "2022-05-04T09:00:00"},
            {"until": "2022-05-04"},
            {"since": "yesterday"},
            {"updated_since": "2022-05-04T09:00:00"},
            {"site": "999999"},
            {"site": "Azovstal"},
        ],
    )
    def test_a_naive_or_unknown_filter_value_is_a_400(self, api, counts, query):
        response = api().get(URL, query)
        assert response.status_code == 400
        assert set(response.json()) == set(query)


class TestWhoMayWrite:
    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 201), ("bob", 201), ("carol", 201), ("dave", 201)]
    )
    def test_every_member_of_staff_adds_counts(self, api, request, payload, who, status):
        response = api(persona(request, who)).post(URL, payload)
        assert response.status_code == status
        assert CivilianCount.objects.exists() is (status == 201)

    def test_a_new_count_is_stamped_with_the_reporters_organisation_and_the_reporter(self, api, alice, bob, payload):
        response = api(alice).post(URL, {**payload, "organisation": bob.organisation_id, "created_by": bob.pk})
        assert response.status_code == 201
        assert (response.json()["organisation"], response.json()["created_by"]) == (alice.organisation_id, alice.pk)
        count = CivilianCount.objects.get()
        assert (count.organisation, count.created_by) == (alice.organisation, alice)
        assert count.as_of == dt.datetime(2022, 5, 4, 9, tzinfo=UTC)
        assert count.history.get().history_user == alice

    def test_an_admin_without_organisation_adds_counts_that_have_none(self, api, dave, payload):
        response = api(dave).post(URL, payload)
        assert response.status_code == 201
        assert (response.json()["organisation"], response.json()["created_by"]) == (None, dave.pk)

    @pytest.mark.parametrize(("who", "status"), [("alice", 403), ("carol", 403), ("dave", 200)])
    def test_a_count_with_no_organisation_is_edited_by_admins_only(self, api, request, dave, payload, who, status):
        count_id = api(dave).post(URL, payload).json()["id"]
        response = api(persona(request, who)).patch(f"{URL}{count_id}/", {"count": 1})
        assert response.status_code == status
        assert CivilianCount.objects.get().count == (1 if status == 200 else 200)

    def test_a_reporter_without_organisation_may_not_add_counts(self, api, alice, payload):
        alice.organisation = None
        alice.save()
        assert api(alice).post(URL, payload).status_code == 403
        assert not CivilianCount.objects.exists()

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 200), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_the_counts_organisation_and_admins_edit_it(self, api, request, alices_count, who, status):
        response = api(persona(request, who)).patch(detail(alices_count), {"count": 210})
        assert response.status_code == status
        alices_count.refresh_from_db()
        assert alices_count.count == (210 if status == 200 else 200)

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 204), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_the_counts_organisation_and_admins_delete_it(self, api, request, alices_count, who, status):
        response = api(persona(request, who)).delete(detail(alices_count))
        assert response.status_code == status
        assert CivilianCount.objects.filter(pk=alices_count.pk).exists() is (status != 204)

    def test_a_reporter_cannot_edit_another_organisations_count(self, api, alice, bobs_count):
        response = api(alice).put(detail(bobs_count), {**_as_sent(bobs_count), "count": 1})
        assert response.status_code == 403
        bobs_count.refresh_from_db()
        assert bobs_count.count == 150
        assert bobs_count.history.count() == 1  # the factory's

    def test_a_coordinator_verifies_another_organisations_count(self, api, carol, bobs_count):
        response = api(carol).patch(detail(bobs_count), {"verification": "verified"})
        assert response.status_code == 200
        assert response.json()["verification"] == "verified"
        bobs_count.refresh_from_db()
        assert bobs_count.verification == Verification.VERIFIED
        assert bobs_count.history.latest().history_user == carol

    @pytest.mark.parametrize("change", [{"count": 1}, {"count": 1, "verification": "disputed"}])
    def test_a_coordinator_changes_nothing_but_the_verification_of_another_organisations_count(
        self, api, carol, bobs_count, change
    ):
        response = api(carol).patch(detail(bobs_count), change)
        assert response.status_code == 403
        bobs_count.refresh_from_db()
        assert (bobs_count.count, bobs_count.verification) == (150, "unverified")

    def test_a_coordinator_may_not_delete_another_organisations_count(self, api, carol, bobs_count):
        assert api(carol).delete(detail(bobs_count)).status_code == 403
        assert CivilianCount.objects.filter(pk=bobs_count.pk).exists()

    @pytest.mark.parametrize(
        ("value", "status"), [("verified", 403), ("disputed", 403), ("retracted", 200), ("unverified", 200)]
    )
    def test_reporters_retract_their_counts_but_only_coordinators_verify_or_dispute(
        self, api, alice, alices_count, value, status
    ):
        response = api(alice).patch(detail(alices_count), {"verification": value})
        assert response.status_code == status
        alices_count.refresh_from_db()
        assert alices_count.verification == (value if status == 200 else "unverified")

    def test_a_reporter_cannot_add_a_count_already_verified(self, api, alice, payload):
        assert api(alice).post(URL, {**payload, "verification": "verified"}).status_code == 403
        assert not CivilianCount.objects.exists()

    def test_the_organisation_and_author_of_a_count_cannot_be_changed_by_the_client(
        self, api, dave, alices_count, bob, alice
    ):
        response = api(dave).patch(detail(alices_count), {"organisation": bob.organisation_id, "created_by": bob.pk})
        assert response.status_code == 200
        alices_count.refresh_from_db()
        assert (alices_count.organisation, alices_count.created_by) == (alice.organisation, alice)


def _as_sent(count) -> dict:
    return {
        "site": count.site_id,
        "as_of": count.as_of.isoformat(),
        "count": count.count,
        "qualifier": count.qualifier,
        "source": count.source_id,
    }


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"count": -1}, "count"),
            ({"count": 12.5}, "count"),
            ({"count": 12.0}, "count"),
            ({"count": "12"}, "count"),
            ({"count": True}, "count"),
            ({"count": None}, "count"),
            ({"count": 2**31}, "count"),
            ({"count_high": 199}, "count_high"),
            ({"count_high": "300"}, "count_high"),
            ({"count_high": -5}, "count_high"),
            ({"as_of": "2022-05-04T12:00:00"}, "as_of"),
            ({"as_of": "2022-05-04"}, "as_of"),
            ({"as_of": "4 May 2022"}, "as_of"),
            ({"as_of": 1651654800}, "as_of"),
            ({"as_of": "1812-05-04T12:00:00Z"}, "as_of"),
            ({"site": 999_999}, "site"),
            ({"site": "1"}, "site"),
            ({"site": None}, "site"),
            ({"source": 999_999}, "source"),
            ({"qualifier": "roughly"}, "qualifier"),
            ({"verification": "confirmed"}, "verification"),
            ({"reported_at": "2022-05-04T11:00:00"}, "reported_at"),
        ],
    )
    def test_an_invalid_count_is_a_400_and_nothing_is_written(self, api, alice, payload, change, field):
        response = api(alice).post(URL, {**payload, **change})
        assert response.status_code == 400
        assert field in response.json(), response.json()
        assert not CivilianCount.objects.exists()
        assert not CivilianCount.history.exists()

    def test_a_naive_time_is_refused_with_a_message_that_says_why(self, api, alice, payload):
        response = api(alice).post(URL, {**payload, "as_of": "2022-05-04T12:00:00"})
        assert "without one is ambiguous" in response.json()["as_of"][0]

    def test_a_range_whose_high_end_is_below_the_count_is_refused_on_edit_too(self, api, alice, alices_count):
        response = api(alice).patch(detail(alices_count), {"count_high": 150})
        assert response.status_code == 400
        assert "count_high" in response.json()
        alices_count.refresh_from_db()
        assert alices_count.count_high is None

    def test_a_range_is_a_count_and_a_high_end_at_least_as_big(self, api, alice, payload):
        response = api(alice).post(URL, {**payload, "count": 100, "count_high": 120, "qualifier": "exact"})
        assert response.status_code == 201
        assert (response.json()["count"], response.json()["count_high"]) == (100, 120)

    def test_malformed_json_is_a_400(self, api, alice):
        response = api(alice).post(URL, b'{"count": 200,}', content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]
        assert not CivilianCount.objects.exists()

    def test_a_form_post_is_refused_the_api_speaks_json(self, api, alice, payload):
        response = api(alice).post(URL, payload, format="multipart")
        assert response.status_code == 415
        assert not CivilianCount.objects.exists()


class TestConventions:
    def test_a_stale_if_match_is_a_412_and_changes_nothing(self, api, alice, alices_count):
        etag = api(alice).get(detail(alices_count))["ETag"]
        assert api(alice).patch(detail(alices_count), {"count": 210}, HTTP_IF_MATCH=etag).status_code == 200
        assert api(alice).patch(detail(alices_count), {"count": 220}, HTTP_IF_MATCH=etag).status_code == 412
        alices_count.refresh_from_db()
        assert alices_count.count == 210

    def test_a_repeated_idempotency_key_gets_the_first_response_and_creates_nothing(self, api, alice, payload):
        first = api(alice).post(URL, payload, HTTP_IDEMPOTENCY_KEY="count-42")
        again = api(alice).post(URL, payload, HTTP_IDEMPOTENCY_KEY="count-42")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert CivilianCount.objects.count() == 1

    def test_a_request_that_failed_leaves_its_idempotency_key_free_for_the_retry(self, api, alice, payload):
        failed = api(alice).post(URL, {**payload, "count": -1}, HTTP_IDEMPOTENCY_KEY="count-43")
        assert failed.status_code == 400
        retry = api(alice).post(URL, payload, HTTP_IDEMPOTENCY_KEY="count-43")
        assert retry.status_code == 201
        assert CivilianCount.objects.count() == 1
