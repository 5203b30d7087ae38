"""
`/api/v1/sites/`: places in a tree, public to read, managed by coordinators. A
restricted site's exact position is given only to those allowed to see it; everyone
else gets it coarsened to 0.1° (about 10 km), in JSON, CSV and GeoJSON alike.
"""

from __future__ import annotations

import datetime as dt

import geojson
import pytest
import time_machine
from django.contrib.auth.models import Permission

from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import Site, User, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/sites/"

# The shelter under the plant: where it is exactly, and what the public may know of it.
EXACT = (47.1062, 37.6138)
COARSE = (47.1, 37.6)
SECRETS = (b"47.1062", b"37.6138", b"47.106", b"37.613")
# The clock stands still: no timestamp's seconds and microseconds can spell a secret by chance.
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def detail(site) -> str:
    return f"{URL}{site.pk}/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def places(db):
    """Donetsk oblast > Mariupol > Azovstal (a restricted shelter); Odesa; Lisbon, west of Greenwich."""
    donetsk = factories.SiteFactory(name="Donetsk oblast", kind=Site.Kind.REGION, latitude=48.0, longitude=37.8)
    mariupol = factories.SiteFactory(name="Mariupol", parent=donetsk, latitude=47.0958, longitude=37.5494)
    azovstal = factories.SiteFactory(
        name="Azovstal",
        kind=Site.Kind.SHELTER,
        parent=mariupol,
        latitude=EXACT[0],
        longitude=EXACT[1],
        restricted=True,
    )
    return {
        "donetsk": donetsk,
        "mariupol": mariupol,
        "azovstal": azovstal,
        "odesa": factories.SiteFactory(name="Odesa", latitude=46.4825, longitude=30.7233),
        "lisbon": factories.SiteFactory(
            name="Lisbon office", kind=Site.Kind.FACILITY, latitude=38.7223, longitude=-9.1393, timezone="Europe/Lisbon"
        ),
    }


@pytest.fixture
def alice_with_permission(alice):
    """Alice, a reporter, granted the permission to see restricted sites' exact positions."""
    alice.user_permissions.add(Permission.objects.get(codename="view_exact_location"))
    return User.objects.get(pk=alice.pk)  # a fresh object: permissions are cached per instance


VALID = {
    "name": "Shelter 12",
    "kind": "shelter",
    "latitude": 47.09,
    "longitude": 37.55,
    "timezone": "Europe/Kyiv",
    "restricted": True,
}


# --- Who may do what ----------------------------------------------------------------------


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_everyone_reads_sites_logged_in_or_not(self, api, request, places, who):
        client = api(persona(request, who))
        assert client.get(URL).status_code == 200
        assert client.get(detail(places["odesa"])).status_code == 200

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 201), ("dave", 201)]
    )
    def test_only_coordinators_and_admins_add_a_site(self, api, request, places, who, status):
        response = api(persona(request, who)).post(URL, {**VALID, "parent": places["mariupol"].pk})
        assert response.status_code == status
        assert Site.objects.filter(name="Shelter 12").exists() is (status == 201)

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_coordinators_and_admins_change_a_site(self, api, request, places, who, status):
        response = api(persona(request, who)).patch(detail(places["odesa"]), {"name": "Odesa port"})
        assert response.status_code == status
        places["odesa"].refresh_from_db()
        assert places["odesa"].name == ("Odesa port" if status == 200 else "Odesa")

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_coordinators_and_admins_delete_a_site(self, api, request, places, who, status):
        response = api(persona(request, who)).delete(detail(places["odesa"]))
        assert response.status_code == status
        assert Site.objects.filter(name="Odesa").exists() is (status != 204)

    def test_a_coordinator_adds_a_site_and_the_history_names_her(self, api, carol, places):
        response = api(carol).post(URL, {**VALID, "parent": places["mariupol"].pk})
        assert response.status_code == 201
        body = response.json()
        assert {key: body[key] for key in VALID} == VALID
        assert (body["parent"], body["latest_count"]) == (places["mariupol"].pk, None)
        site = Site.objects.get(pk=body["id"])
        assert (site.latitude, site.longitude, site.parent) == (47.09, 37.55, places["mariupol"])
        assert site.history.get().history_user == carol

    def test_a_site_that_others_refer_to_cannot_be_deleted(self, api, carol, places):
        response = api(carol).delete(detail(places["mariupol"]))  # Azovstal is inside it
        assert response.status_code == 409
        assert Site.objects.filter(pk=places["mariupol"].pk).exists()

    def test_a_stale_if_match_is_a_412_and_changes_nothing(self, api, carol, places):
        etag = api(carol).get(detail(places["odesa"]))["ETag"]
        assert api(carol).patch(detail(places["odesa"]), {"name": "Odesa city"}, HTTP_IF_MATCH=etag).status_code == 200
        response = api(carol).patch(detail(places["odesa"]), {"name": "Odesa port"}, HTTP_IF_MATCH=etag)
        assert response.status_code == 412
        places["odesa"].refresh_from_db()
        assert places["odesa"].name == "Odesa city"


# --- Validation ----------------------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"latitude": 90.5}, "latitude"),
            ({"latitude": -90.01}, "latitude"),
            ({"longitude": 180.5}, "longitude"),
            ({"longitude": -181}, "longitude"),
            ({"latitude": "47.09"}, "latitude"),
            ({"longitude": "37"}, "longitude"),
            ({"latitude": True}, "latitude"),
            ({"latitude": None}, "latitude"),
            ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
            ({"timezone": "Kyiv"}, "timezone"),
            ({"timezone": "../../etc/passwd"}, "timezone"),
            ({"timezone": ""}, "timezone"),
            ({"timezone": 3}, "timezone"),
            ({"kind": "village"}, "kind"),
            ({"parent": 999_999}, "parent"),
            ({"parent": "1"}, "parent"),
            ({"restricted": "yes"}, "restricted"),
            ({"name": ""}, "name"),
            ({"name": None}, "name"),
        ],
    )
    def test_an_invalid_site_is_a_400_and_nothing_is_written(self, api, carol, change, field):
        response = api(carol).post(URL, {**VALID, **change})
        assert response.status_code == 400
        assert field in response.json(), response.json()
        assert not Site.objects.exists()
        assert not Site.history.exists()

    def test_a_site_without_coordinates_is_a_400(self, api, carol):
        response = api(carol).post(URL, {"name": "Somewhere", "kind": "city"})
        assert response.status_code == 400
        assert set(response.json()) == {"latitude", "longitude"}

    @pytest.mark.parametrize(("latitude", "longitude"), [(90, 180), (-90, -180), (0, 0)])
    def test_the_edges_of_the_globe_are_valid_positions(self, api, carol, latitude, longitude):
        response = api(carol).post(URL, {**VALID, "latitude": latitude, "longitude": longitude})
        assert response.status_code == 201
        assert (response.json()["latitude"], response.json()["longitude"]) == (latitude, longitude)

    def test_europe_kiev_is_stored_and_returned_as_europe_kyiv(self, api, carol, places):
        response = api(carol).post(URL, {**VALID, "timezone": "Europe/Kiev"})
        assert response.status_code == 201
        assert response.json()["timezone"] == "Europe/Kyiv"
        assert Site.objects.get(pk=response.json()["id"]).timezone == "Europe/Kyiv"
        response = api(carol).patch(detail(places["lisbon"]), {"timezone": "Europe/Kiev"})
        assert response.json()["timezone"] == "Europe/Kyiv"
        places["lisbon"].refresh_from_db()
        assert places["lisbon"].timezone == "Europe/Kyiv"

    def test_a_site_given_no_time_zone_is_in_kyiv_time(self, api, carol):
        data = {key: value for key, value in VALID.items() if key != "timezone"}
        assert api(carol).post(URL, data).json()["timezone"] == "Europe/Kyiv"

    def test_a_site_cannot_be_inside_itself(self, api, carol, places):
        response = api(carol).patch(detail(places["mariupol"]), {"parent": places["mariupol"].pk})
        assert response.status_code == 400
        assert "parent" in response.json()
        places["mariupol"].refresh_from_db()
        assert places["mariupol"].parent == places["donetsk"]

    def test_a_site_cannot_be_made_its_own_ancestor(self, api, carol, places):
        response = api(carol).patch(detail(places["donetsk"]), {"parent": places["azovstal"].pk})
        assert response.status_code == 400
        assert "inside one of its own sub-sites" in response.json()["parent"][0]
        places["donetsk"].refresh_from_db()
        assert places["donetsk"].parent is None
        assert places["donetsk"].history.count() == 1

    def test_malformed_json_is_a_400(self, api, carol):
        response = api(carol).post(URL, b'{"name": "Shelter 12", "latitude": 47.1,', content_type="application/json")
        assert response.status_code == 400
        assert not Site.objects.exists()


# --- Filters and latest_count -----------------------------------------------------------------


class TestFilters:
    def test_sites_filter_by_parent(self, api, places):
        assert ids(api().get(URL, {"parent": places["mariupol"].pk})) == [places["azovstal"].pk]
        assert ids(api().get(URL, {"parent": places["donetsk"].pk})) == [places["mariupol"].pk]

    def test_sites_filter_by_kind(self, api, places):
        assert ids(api().get(URL, {"kind": "city"})) == [places["mariupol"].pk, places["odesa"].pk]
        assert ids(api().get(URL, {"kind": "region"})) == [places["donetsk"].pk]

    def test_q_finds_sites_whose_name_contains_it_in_any_case(self, api, places):
        assert ids(api().get(URL, {"q": "azov"})) == [places["azovstal"].pk]
        assert ids(api().get(URL, {"q": "OFFICE"})) == [places["lisbon"].pk]
        assert ids(api().get(URL, {"q": "kherson"})) == []

    @pytest.mark.parametrize("query", [{"kind": "village"}, {"parent": "999999"}, {"parent": "Mariupol"}])
    def test_an_unknown_filter_value_is_a_400(self, api, places, query):
        assert api().get(URL, query).status_code == 400

    def test_updated_since_gives_only_the_sites_changed_at_or_after_it(self, api, places):
        with time_machine.travel(dt.datetime(2030, 1, 1, tzinfo=UTC), tick=False):
            places["odesa"].name = "Odesa city"
            places["odesa"].save()
        assert ids(api().get(URL, {"updated_since": "2030-01-01T02:00:00+02:00"})) == [places["odesa"].pk]
        assert ids(api().get(URL, {"updated_since": "2030-01-01T00:00:01Z"})) == []

    def test_the_list_is_in_name_order(self, api, places):
        names = [site["name"] for site in api().get(URL).json()["results"]]
        assert names == ["Azovstal", "Donetsk oblast", "Lisbon office", "Mariupol", "Odesa"]


class TestPages:
    def test_a_list_comes_in_pages_of_the_size_asked_for(self, api, places):
        first = api().get(URL, {"page_size": 2})
        assert first["X-Total-Count"] == "5"
        assert ids(first) == [places["azovstal"].pk, places["donetsk"].pk]
        second = api().get(first.json()["next"])
        assert ids(second) == [places["lisbon"].pk, places["mariupol"].pk]
        assert second.json()["previous"] is not None

    @pytest.mark.parametrize("size", ["0", "501", "ten", "-1"])
    def test_a_page_size_outside_1_to_500_is_a_400(self, api, places, size):
        response = api().get(URL, {"page_size": size})
        assert response.status_code == 400
        assert "page_size" in response.json()

    def test_a_page_past_the_end_is_a_404(self, api, places):
        assert api().get(URL, {"page": 2}).status_code == 404


class TestLatestCount:
    def test_a_site_without_counts_has_no_latest_count(self, api, places):
        assert api().get(detail(places["odesa"])).json()["latest_count"] is None

    def test_the_latest_count_is_the_newest_one_not_retracted(self, api, places):
        plant, mayor = factories.SourceFactory(name="Azov regiment"), factories.SourceFactory(name="Mayor")
        site = places["azovstal"]
        factories.CivilianCountFactory(site=site, as_of=dt.datetime(2022, 5, 1, 9, tzinfo=UTC), count=1000)
        factories.CivilianCountFactory(
            site=site, as_of=dt.datetime(2022, 5, 4, 9, tzinfo=UTC), count=200, qualifier="approximately", source=plant
        )
        factories.CivilianCountFactory(
            site=site,
            as_of=dt.datetime(2022, 5, 5, 9, tzinfo=UTC),
            count=10,
            source=mayor,
            verification=Verification.RETRACTED,
        )
        expected = {
            "count": 200,
            "count_high": None,
            "qualifier": "approximately",
            "as_of": "2022-05-04T09:00:00Z",
            "source": plant.pk,
        }
        assert api().get(detail(site)).json()["latest_count"] == expected
        listed = {s["id"]: s["latest_count"] for s in api().get(URL).json()["results"]}
        assert listed == {pk: None for pk in listed} | {site.pk: expected}

    def test_the_latest_count_is_in_the_csv_too(self, api, places):
        factories.CivilianCountFactory(site=places["odesa"], count=120, count_high=150, qualifier="exact")
        rows = csv_rows(api().get(URL, {"format": "csv", "q": "Odesa"}))
        row = dict(zip(rows[0], rows[2], strict=True))
        assert (row["latest_count.count"], row["latest_count.count_high"], row["latest_count.qualifier"]) == (
            "120",
            "150",
            "exact",
        )


# --- Restricted sites: coarsened in every format ---------------------------------------------------


def position(response, site, fmt: str) -> tuple[float, float]:
    """Where `response` (a list or a detail, in `fmt`) puts `site`."""
    assert response.status_code == 200, response.content
    if fmt == "json":
        body = response.json()
        item = next(s for s in body["results"] if s["id"] == site.pk) if "results" in body else body
        return item["latitude"], item["longitude"]
    if fmt == "csv":
        rows = csv_rows(response)
        item = next(dict(zip(rows[0], row, strict=True)) for row in rows[2:] if row[0] == str(site.pk))
        return float(item["latitude"]), float(item["longitude"])
    body = geojson.loads(response.content)
    feature = next(f for f in body["features"] if f["id"] == site.pk) if body["type"] == "FeatureCollection" else body
    longitude, latitude = feature["geometry"]["coordinates"]
    return latitude, longitude


FORMATS = ["json", "csv", "geojson"]


class TestRestrictedSites:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("one", [False, True], ids=["list", "detail"])
    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            ("public", COARSE),
            ("alice", COARSE),
            ("carol", EXACT),
            ("dave", EXACT),
            ("alice_with_permission", EXACT),
        ],
    )
    def test_only_those_allowed_see_a_restricted_sites_exact_position(
        self, api, request, places, who, expected, one, fmt
    ):
        site = places["azovstal"]
        response = api(persona(request, who)).get(detail(site) if one else URL, {"format": fmt})
        assert position(response, site, fmt) == expected

    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("who", ["public", "alice"])
    def test_no_exact_coordinate_appears_anywhere_in_what_the_public_and_reporters_get(
        self, api, request, places, who, fmt
    ):
        factories.CivilianCountFactory(site=places["azovstal"])
        client = api(persona(request, who))
        site = places["azovstal"]
        responses = [
            client.get(URL, {"format": fmt}),
            client.get(detail(site), {"format": fmt}),
            client.get(URL, {"format": fmt, "q": "Azov"}),
            client.get(URL, {"format": fmt, "parent": places["mariupol"].pk}),
        ]
        for response in responses:
            assert response.status_code == 200
            for secret in SECRETS:
                assert secret not in response.content

    def test_an_ordinary_site_is_shown_exactly_to_everyone(self, api, places):
        assert position(api().get(detail(places["odesa"])), places["odesa"], "json") == (46.4825, 30.7233)

    def test_coarsening_snaps_every_position_in_a_cell_to_one_point(self, api, carol, places):
        site = places["azovstal"]
        for latitude, longitude in [(47.06, 37.56), (47.149, 37.649), (47.1, 37.6)]:
            api(carol).patch(detail(site), {"latitude": latitude, "longitude": longitude})
            assert position(api().get(detail(site)), site, "json") == COARSE


class TestInsideARestrictedSite:
    """A site inside a restricted one is restricted too: its position would give the shelter's away."""

    def test_a_site_added_inside_a_restricted_one_is_restricted_and_coarsened(self, api, carol, places):
        response = api(carol).post(
            URL,
            {
                "name": "Bunker 3",
                "kind": "shelter",
                "parent": places["azovstal"].pk,
                "latitude": 47.1071,
                "longitude": 37.6144,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["restricted"] is True
        bunker = Site.objects.get(name="Bunker 3")
        assert position(api().get(detail(bunker)), bunker, "json") == COARSE

    def test_restricting_a_site_restricts_every_site_inside_it(self, api, carol, places):
        response = api(carol).patch(detail(places["donetsk"]), {"restricted": True}, format="json")
        assert response.status_code == 200, response.content
        assert Site.objects.get(pk=places["mariupol"].pk).restricted
        assert not Site.objects.get(pk=places["odesa"].pk).restricted
        assert Site.objects.get(pk=places["mariupol"].pk).history.first().history_user == carol

    def test_lifting_the_restriction_of_a_site_inside_a_restricted_one_is_refused(self, api, carol, places):
        inner = factories.SiteFactory(name="Bunker 3", parent=places["azovstal"], restricted=True)
        response = api(carol).patch(detail(inner), {"restricted": False}, format="json")
        assert response.status_code == 400
        assert "Azovstal" in response.json()["restricted"][0]
        assert Site.objects.get(pk=inner.pk).restricted

    def test_moving_a_site_under_a_restricted_one_restricts_it(self, api, carol, places):
        response = api(carol).patch(detail(places["odesa"]), {"parent": places["azovstal"].pk}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["restricted"] is True


# --- Formats: GeoJSON and CSV with HXL ----------------------------------------------------------------


class TestGeoJSON:
    def test_the_list_is_a_valid_feature_collection_with_a_point_per_site(self, api, places):
        response = api().get(URL, {"format": "geojson"})
        assert response["Content-Type"] == "application/geo+json"
        collection = geojson.loads(response.content)
        assert collection.is_valid, collection.errors()
        assert collection.errors() == []
        assert collection["type"] == "FeatureCollection"
        assert (collection["count"], collection["next"], collection["previous"]) == (5, None, None)
        odesa = next(f for f in collection["features"] if f["id"] == places["odesa"].pk)
        assert odesa["geometry"] == {"type": "Point", "coordinates": [30.7233, 46.4825]}
        assert odesa["properties"]["name"] == "Odesa"
        assert "latitude" not in odesa["properties"]

    def test_a_detail_is_a_valid_feature(self, api, places):
        feature = geojson.loads(api().get(detail(places["lisbon"]), {"format": "geojson"}).content)
        assert feature.is_valid, feature.errors()
        assert feature["type"] == "Feature"
        assert feature["geometry"]["coordinates"] == [-9.1393, 38.7223]

    def test_a_page_of_the_geojson_links_to_the_next(self, api, places):
        response = api().get(URL, {"format": "geojson", "page_size": 2})
        collection = geojson.loads(response.content)
        assert collection.is_valid
        assert len(collection["features"]) == 2
        assert "page=2" in collection["next"]
        assert 'rel="next"' in response["Link"]


class TestCSV:
    def test_the_csv_has_an_hxl_hashtag_row_that_tags_every_column(self, api, places):
        response = api().get(URL, {"format": "csv"})
        rows = csv_rows(response)
        header = dict(zip(rows[0], rows[1], strict=True))
        assert header["latitude"] == "#geo+lat"
        assert header["longitude"] == "#geo+lon"
        assert header["name"] == "#loc+name"
        assert header["latest_count.count"] == "#affected+num"
        dataset = hxl_data(response)
        assert [column.header for column in dataset.columns] == rows[0]
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]
        lisbon = next(row for row in dataset if row.get("#loc+name") == "Lisbon office")
        assert float(lisbon.get("#geo+lon")) == -9.1393

    @pytest.mark.parametrize("name", ["=SUM(A1)", "@cmd", "+Shelter", "-Shelter"])
    def test_a_site_named_like_a_formula_comes_out_with_a_leading_quote(self, api, carol, name):
        factories.SiteFactory(name=name, latitude=-33.9, longitude=-18.4)
        rows = csv_rows(api().get(URL, {"format": "csv"}))
        row = dict(zip(rows[0], rows[2], strict=True))
        assert row["name"] == "'" + name
        # Numbers are not text: a negative longitude stays a number a spreadsheet can use.
        assert (row["latitude"], row["longitude"]) == ("-33.9", "-18.4")

    def test_a_detail_comes_as_csv_too(self, api, places):
        rows = csv_rows(api().get(detail(places["odesa"]), {"format": "csv"}))
        assert len(rows) == 3
        assert rows[2][rows[0].index("name")] == "Odesa"


# --- Queries ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_list_costs_the_same_queries_whatever_the_page_size(api, fmt):
    region = factories.SiteFactory(name="Region", kind=Site.Kind.REGION)
    for i in range(30):
        site = factories.SiteFactory(name=f"Shelter {i:02}", parent=region, restricted=i % 2 == 0)
        factories.CivilianCountFactory(site=site)
    url = f"{URL}?format={fmt}"
    assert list_queries(api(), url, 3) == list_queries(api(), url, 30)
