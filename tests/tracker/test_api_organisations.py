"""`/api/v1/organisations/`: public to read, written by admins only (docs/api.md, "Resources")."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import Organisation

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/organisations/"


def detail(organisation) -> str:
    return f"{URL}{organisation.pk}/"


class TestReading:
    def test_the_public_reads_the_organisations_with_their_times_in_utc(self, api):
        with time_machine.travel(dt.datetime(2022, 5, 4, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))), tick=False):
            ngo_a = factories.OrganisationFactory(name="Helping Hands", acronym="HH")
            ngo_b = factories.OrganisationFactory(name="Open Road", acronym="OR")
        response = api().get(URL)
        assert response.status_code == 200
        body = response.json()
        assert (body["count"], body["next"], body["previous"]) == (2, None, None)
        assert body["results"][0] == {
            "id": ngo_a.pk,
            "created_at": "2022-05-04T09:00:00Z",
            "updated_at": "2022-05-04T09:00:00Z",
            "name": "Helping Hands",
            "acronym": "HH",
        }
        assert api().get(detail(ngo_b)).json()["name"] == "Open Road"

    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_everyone_reads_organisations_logged_in_or_not(self, api, request, ngo_a, who):
        client = api(persona(request, who))
        assert client.get(URL).status_code == 200
        assert client.get(detail(ngo_a)).status_code == 200

    def test_an_unknown_organisation_is_404(self, api, ngo_a):
        assert api().get(f"{URL}{ngo_a.pk + 1}/").status_code == 404

    def test_updated_since_gives_only_what_changed_at_or_after_it(self, api):
        with time_machine.travel(dt.datetime(2022, 5, 1, tzinfo=UTC), tick=False):
            factories.OrganisationFactory(name="Old")
        with time_machine.travel(dt.datetime(2022, 5, 3, tzinfo=UTC), tick=False):
            edge = factories.OrganisationFactory(name="Edge")
        with time_machine.travel(dt.datetime(2022, 5, 4, tzinfo=UTC), tick=False):
            new = factories.OrganisationFactory(name="New")
        response = api().get(URL, {"updated_since": "2022-05-03T03:00:00+03:00"})
        assert ids(response) == [edge.pk, new.pk]

    def test_a_naive_updated_since_is_a_400(self, api):
        response = api().get(URL, {"updated_since": "2022-05-03T00:00:00"})
        assert response.status_code == 400
        assert "updated_since" in response.json()

    def test_the_csv_has_an_hxl_hashtag_row_that_tags_every_column(self, api, ngo_a):
        rows = csv_rows(api().get(URL, {"format": "csv"}))
        assert rows[0] == ["id", "created_at", "updated_at", "name", "acronym"]
        assert rows[2][3:] == ["Helping Hands", "HH"]
        # `#org+id`, as the users' and figures' `organisation` columns: the tables join on it.
        assert rows[1] == ["#org+id", "#meta+created", "#meta+updated", "#org+name", "#org+acronym"]
        dataset = hxl_data(api().get(URL, {"format": "csv"}))
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]
        assert [row.get("#org+name") for row in dataset] == ["Helping Hands"]

    def test_a_name_that_looks_like_a_formula_is_escaped_in_the_csv(self, api):
        factories.OrganisationFactory(name="=HYPERLINK(1)", acronym="@cmd")
        rows = csv_rows(api().get(URL, {"format": "csv"}))
        assert rows[2][3:] == ["'=HYPERLINK(1)", "'@cmd"]

    def test_the_list_costs_the_same_queries_whatever_the_page_size(self, api):
        factories.OrganisationFactory.create_batch(30)
        assert list_queries(api(), URL, 3) == list_queries(api(), URL, 30)


class TestWriting:
    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 201)])
    def test_only_an_admin_adds_an_organisation(self, api, request, who, status):
        response = api(persona(request, who)).post(URL, {"name": "Kind Hearts", "acronym": "KH"})
        assert response.status_code == status
        assert Organisation.objects.filter(name="Kind Hearts").exists() is (status == 201)

    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 200)])
    def test_only_an_admin_renames_an_organisation(self, api, request, ngo_b, who, status):
        response = api(persona(request, who)).patch(detail(ngo_b), {"acronym": "ORD"})
        assert response.status_code == status
        ngo_b.refresh_from_db()
        assert ngo_b.acronym == ("ORD" if status == 200 else "OR")

    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 204)])
    def test_only_an_admin_deletes_an_organisation(self, api, request, who, status):
        organisation = factories.OrganisationFactory(name="Gone Tomorrow")
        response = api(persona(request, who)).delete(detail(organisation))
        assert response.status_code == status
        assert Organisation.objects.filter(pk=organisation.pk).exists() is (status != 204)

    def test_an_admin_adds_an_organisation_and_the_history_names_them(self, api, dave):
        response = api(dave).post(URL, {"name": "Kind Hearts", "acronym": "KH"})
        assert response.status_code == 201
        organisation = Organisation.objects.get(pk=response.json()["id"])
        assert (organisation.name, organisation.acronym) == ("Kind Hearts", "KH")
        assert organisation.history.get().history_user == dave

    def test_an_organisation_with_members_cannot_be_deleted(self, api, alice, dave):
        response = api(dave).delete(detail(alice.organisation))
        assert response.status_code == 409
        assert "referred to" in response.json()["detail"]
        assert Organisation.objects.filter(pk=alice.organisation_id).exists()

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"name": "Helping Hands"}, "name"),  # taken
            ({"name": 42}, "name"),
            ({"name": ""}, "name"),
            ({"acronym": "KH"}, "name"),
            ({"name": "Kind Hearts", "acronym": ["KH"]}, "acronym"),
        ],
    )
    def test_an_invalid_organisation_is_a_400_and_nothing_is_written(self, api, dave, ngo_a, data, field):
        response = api(dave).post(URL, data)
        assert response.status_code == 400
        assert field in response.json()
        assert list(Organisation.objects.values_list("name", flat=True)) == ["Helping Hands"]

    def test_malformed_json_is_a_400(self, api, dave):
        response = api(dave).post(URL, '{"name": "Kind', content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]
        assert not Organisation.objects.exists()
