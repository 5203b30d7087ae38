"""`/api/v1/sources/`: who said it. Public to read; any member of staff adds one; coordinators change and delete."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import Source

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/sources/"
MAYOR = {"name": "Mayor of Mariupol", "kind": "official", "url": "https://t.me/vadymboichenko"}


def detail(source) -> str:
    return f"{URL}{source.pk}/"


@pytest.fixture
def field_team(db):
    return factories.SourceFactory(name="Field team A", kind=Source.Kind.FIELD_TEAM, url="https://example.org/a")


class TestReading:
    def test_the_public_reads_the_sources(self, api, field_team):
        response = api().get(URL)
        assert response.status_code == 200
        [source] = response.json()["results"]
        assert {key: source[key] for key in ("id", "name", "kind", "url")} == {
            "id": field_team.pk,
            "name": "Field team A",
            "kind": "field_team",
            "url": "https://example.org/a",
        }
        assert api().get(detail(field_team)).json() == source

    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_everyone_reads_sources_logged_in_or_not(self, api, request, field_team, who):
        client = api(persona(request, who))
        assert client.get(URL).status_code == 200
        assert client.get(detail(field_team)).status_code == 200

    def test_sources_filter_by_kind(self, api, field_team):
        mayor = factories.SourceFactory(**MAYOR)
        assert ids(api().get(URL, {"kind": "official"})) == [mayor.pk]
        assert ids(api().get(URL, {"kind": "field_team"})) == [field_team.pk]
        assert api().get(URL, {"kind": "rumour"}).status_code == 400

    def test_updated_since_gives_only_the_sources_changed_at_or_after_it(self, api):
        with time_machine.travel(dt.datetime(2022, 5, 1, tzinfo=UTC), tick=False):
            old = factories.SourceFactory(name="Old")
            renamed = factories.SourceFactory(name="Renamed later")
        with time_machine.travel(dt.datetime(2022, 5, 5, tzinfo=UTC), tick=False):
            new = factories.SourceFactory(name="New")
        with time_machine.travel(dt.datetime(2022, 5, 6, tzinfo=UTC), tick=False):
            renamed.name = "Renamed"
            renamed.save()
        response = api().get(URL, {"updated_since": "2022-05-05T00:00:00Z"})
        assert ids(response) == [new.pk, renamed.pk]
        assert old.pk in ids(api().get(URL))

    def test_the_csv_tags_every_column_for_hxl(self, api, field_team):
        rows = csv_rows(api().get(URL, {"format": "csv"}))
        assert rows[0] == ["id", "created_at", "updated_at", "name", "kind", "url"]
        dataset = hxl_data(api().get(URL, {"format": "csv"}))
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]
        assert rows[1] == [
            "#meta+id",
            "#meta+created",
            "#meta+updated",
            "#meta+source",
            "#meta+source+type",
            "#meta+url",
        ]
        # A tool asking for #meta+source gets the name, not the id.
        assert [(row.get("#meta+id"), row.get("#meta+source"), row.get("#meta+source+type")) for row in dataset] == [
            (str(field_team.pk), field_team.name, "field_team")
        ]

    @pytest.mark.parametrize("name", ["=SUM(A1)", "@cmd", "+1 channel", "-dash", "\tTab"])
    def test_a_source_named_like_a_formula_comes_out_escaped_in_the_csv(self, api, name):
        factories.SourceFactory(name=name)
        rows = csv_rows(api().get(URL, {"format": "csv"}))
        assert rows[2][rows[0].index("name")] == "'" + name
        # The JSON gives the name as it is.
        assert api().get(URL).json()["results"][0]["name"] == name

    def test_the_list_costs_the_same_queries_whatever_the_page_size(self, api):
        factories.SourceFactory.create_batch(30)
        assert list_queries(api(), URL, 3) == list_queries(api(), URL, 30)


class TestWriting:
    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 201), ("bob", 201), ("carol", 201), ("dave", 201)]
    )
    def test_any_member_of_staff_adds_a_source(self, api, request, who, status):
        response = api(persona(request, who)).post(URL, MAYOR)
        assert response.status_code == status
        assert Source.objects.filter(name=MAYOR["name"]).exists() is (status == 201)

    def test_the_history_names_who_added_a_source(self, api, alice):
        response = api(alice).post(URL, MAYOR)
        assert Source.objects.get(pk=response.json()["id"]).history.get().history_user == alice

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_coordinators_change_a_source(self, api, request, field_team, who, status):
        response = api(persona(request, who)).patch(detail(field_team), {"kind": "ngo"})
        assert response.status_code == status
        field_team.refresh_from_db()
        assert field_team.kind == ("ngo" if status == 200 else "field_team")

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_coordinators_delete_a_source(self, api, request, field_team, who, status):
        response = api(persona(request, who)).delete(detail(field_team))
        assert response.status_code == status
        assert Source.objects.filter(pk=field_team.pk).exists() is (status != 204)

    def test_a_source_that_figures_cite_cannot_be_deleted(self, api, carol, field_team):
        factories.CivilianCountFactory(source=field_team)
        response = api(carol).delete(detail(field_team))
        assert response.status_code == 409
        assert "civilian count" in response.json()["detail"]
        assert Source.objects.filter(pk=field_team.pk).exists()

    def test_a_coordinator_replaces_a_source_with_put(self, api, carol, field_team):
        response = api(carol).put(detail(field_team), MAYOR)
        assert response.status_code == 200
        field_team.refresh_from_db()
        assert (field_team.name, field_team.kind, field_team.url) == (MAYOR["name"], "official", MAYOR["url"])
        assert field_team.history.latest().history_user == carol

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({**MAYOR, "kind": "rumour"}, "kind"),
            ({**MAYOR, "kind": None}, "kind"),
            ({**MAYOR, "url": "not a link"}, "url"),
            ({**MAYOR, "url": "javascript:alert(1)"}, "url"),
            ({**MAYOR, "name": 7}, "name"),
            ({**MAYOR, "name": "Field team A"}, "name"),  # taken
            ({"name": "Mayor of Mariupol"}, "kind"),
        ],
    )
    def test_an_invalid_source_is_a_400_and_nothing_is_written(self, api, alice, field_team, data, field):
        response = api(alice).post(URL, data)
        assert response.status_code == 400
        assert field in response.json()
        assert list(Source.objects.values_list("name", flat=True)) == ["Field team A"]

    def test_malformed_json_is_a_400(self, api, alice):
        response = api(alice).post(URL, b'{"name": "Mayor", "kind": official}', content_type="application/json")
        assert response.status_code == 400
        assert not Source.objects.exists()
