"""
GIS layers (docs/api.md, "GIS"): `?format=geojson` on `corridors/` (a LineString from
the origin through the waypoints to the destination, with its windows' flagged state)
and `hostilities/` (a Point at the report's site), as GeoJSON that the `geojson`
package (and so QGIS and OGR) reads: [longitude, latitude], flat properties, and a
restricted site's position coarsened to about 10 km for everyone who may not see it.
"""

from __future__ import annotations

import datetime as dt

import geojson
import pytest

from corridors.models import Corridor, Flag
from tests import factories
from tests.api import api, url

pytestmark = pytest.mark.django_db
UTC = dt.UTC

# A shelter whose exact place must not be learnt: the public gets the 0.1° cell's point.
SHELTER = (47.123456, 37.567891)
SHELTER_COARSE = [37.6, 47.1]  # [longitude, latitude]


@pytest.fixture
def shelter(db):
    return factories.SiteFactory(
        name="Plant shelter", kind="shelter", restricted=True, latitude=SHELTER[0], longitude=SHELTER[1]
    )


@pytest.fixture
def berdiansk(db):
    return factories.SiteFactory(name="Berdiansk", latitude=46.7558, longitude=36.7885)


@pytest.fixture
def zaporizhzhia(db):
    return factories.SiteFactory(name="Zaporizhzhia", latitude=47.8388, longitude=35.1396)


@pytest.fixture
def corridor(shelter, berdiansk, zaporizhzhia, carol):
    response = api(carol).post(
        url("corridor-list"),
        {
            "name": "Plant → Zaporizhzhia",
            "origin": shelter.pk,
            "destination": zaporizhzhia.pk,
            "waypoints": [berdiansk.pk],
        },
    )
    assert response.status_code == 201, response.content
    return Corridor.objects.get(pk=response.json()["id"])


def layer(client, name, **query):
    response = client.get(url(f"{name}-list", format="geojson", **query))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/geo+json"
    collection = geojson.loads(response.content.decode())
    assert collection.is_valid, collection.errors()
    assert collection["type"] == "FeatureCollection"
    return collection


def assert_flat(properties):
    assert all(not isinstance(value, dict | list) for value in properties.values()), properties


class TestCorridorLayer:
    def test_it_is_a_line_from_origin_through_waypoints_to_destination_in_lon_lat(self, corridor, carol):
        (feature,) = layer(api(carol), "corridor")["features"]
        assert feature["geometry"]["type"] == "LineString"
        assert feature["geometry"]["coordinates"] == [
            [SHELTER[1], SHELTER[0]],
            [36.7885, 46.7558],
            [35.1396, 47.8388],
        ]
        assert feature["properties"]["position_precision"] == "exact"

    def test_the_public_gets_a_restricted_end_coarsened(self, corridor, berdiansk):
        (feature,) = layer(api(), "corridor")["features"]
        assert feature["geometry"]["coordinates"][0] == SHELTER_COARSE
        assert feature["geometry"]["coordinates"][1] == [36.7885, 46.7558]  # not restricted: as it is
        assert feature["properties"]["position_precision"] == "approximate"

    def test_its_properties_are_flat_with_names_and_windows_flagged_state(self, corridor, berdiansk):
        window = factories.WindowFactory(corridor=corridor)
        factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 6, 5, tzinfo=UTC))
        factories.FlagFactory(window=window, status=Flag.Status.OPEN)
        (feature,) = layer(api(), "corridor")["features"]
        properties = feature["properties"]
        assert_flat(properties)
        assert properties["name"] == "Plant → Zaporizhzhia"
        assert properties["origin_name"] == "Plant shelter"
        assert properties["destination_name"] == "Zaporizhzhia"
        assert properties["waypoints"] == str(berdiansk.pk)
        assert (properties["windows"], properties["flagged_windows"], properties["flagged"]) == (2, 1, True)

    def test_a_withdrawn_flag_leaves_the_corridor_unflagged(self, corridor):
        factories.FlagFactory(window=factories.WindowFactory(corridor=corridor), status=Flag.Status.WITHDRAWN)
        (feature,) = layer(api(), "corridor")["features"]
        assert (feature["properties"]["flagged_windows"], feature["properties"]["flagged"]) == (0, False)

    def test_a_page_costs_the_same_queries_whatever_its_size(self, shelter, zaporizhzhia):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for n in range(4):
            factories.CorridorFactory(origin=shelter, destination=zaporizhzhia, name=f"C{n}")

        def cost(size):
            with CaptureQueriesContext(connection) as queries:
                assert len(layer(api(), "corridor", page_size=size)["features"]) == size
            return len(queries)

        assert cost(1) == cost(4)


class TestHostilityLayer:
    def test_a_report_is_a_point_at_its_site_coarsened_for_the_public(self, shelter, carol):
        report = factories.HostilityReportFactory(site=shelter)
        (feature,) = layer(api(), "hostility")["features"]
        assert feature["id"] == report.pk
        assert feature["geometry"] == {"type": "Point", "coordinates": SHELTER_COARSE}
        assert feature["properties"]["position_precision"] == "approximate"
        assert feature["properties"]["site_name"] == "Plant shelter"
        assert feature["properties"]["kind"] == "shelling"
        assert_flat(feature["properties"])
        (exact,) = layer(api(carol), "hostility")["features"]
        assert exact["geometry"]["coordinates"] == [SHELTER[1], SHELTER[0]]
        assert exact["properties"]["position_precision"] == "exact"

    def test_a_reporter_does_not_see_the_exact_position_either(self, shelter, alice):
        factories.HostilityReportFactory(site=shelter)
        (feature,) = layer(api(alice), "hostility")["features"]
        assert feature["geometry"]["coordinates"] == SHELTER_COARSE

    def test_a_coordinators_exact_read_is_private_and_logged(self, shelter, carol):
        from tracker.models import ExactPositionRead

        factories.HostilityReportFactory(site=shelter)
        response = api(carol).get(url("hostility-list", format="geojson"))
        assert "no-store" in response["Cache-Control"]
        assert ExactPositionRead.objects.filter(site=shelter, through="export").exists()

    def test_the_public_layer_of_an_ordinary_site_is_exact(self, berdiansk):
        factories.HostilityReportFactory(site=berdiansk)
        (feature,) = layer(api(), "hostility")["features"]
        assert feature["geometry"]["coordinates"] == [36.7885, 46.7558]
        assert feature["properties"]["position_precision"] == "exact"
