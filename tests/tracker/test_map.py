"""
The map page at any size: its sites come a tile at a time (JSON), one by one or in
clusters; its tables come a page at a time; a restricted site is only ever placed at
its coarsened position for the public, in every part of it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import translation

from tests import factories
from tracker import geo, pagecache, selectors, views
from tracker.models import Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def tile_url(zoom: int, latitude: float, longitude: float) -> str:
    x, y = geo.tile_xy(latitude, longitude, zoom)
    return en("tracker:map_tile", zoom, int(x), int(y))


class TestTiles:
    def test_a_tile_lists_its_sites_with_their_latest_count(self, public):
        site = factories.SiteFactory(name="Mariupol", latitude=47.0971, longitude=37.5434)
        factories.CivilianCountFactory(site=site, count=100_000)
        factories.SiteFactory(name="Odesa", latitude=46.4825, longitude=30.7233)
        data = public.get(tile_url(9, 47.0971, 37.5434)).json()
        assert data == {
            "sites": [
                {
                    "name": "Mariupol",
                    "url": en("tracker:site", site.pk),
                    "lat": 47.0971,
                    "lon": 37.5434,
                    "approximate": False,
                    "count": "about 100,000 people",
                }
            ],
            "clusters": [],
        }

    def test_a_restricted_site_is_placed_at_its_coarsened_position(self, public):
        factories.SiteFactory(name="Azovstal", kind="shelter", restricted=True, latitude=47.098, longitude=37.611)
        (site,) = public.get(tile_url(9, 47.1, 37.6)).json()["sites"]
        assert (site["lat"], site["lon"], site["approximate"]) == (47.1, 37.6, True)

    def test_which_tile_a_restricted_site_is_in_is_decided_on_its_public_position(self, public):
        """Near a tile's edge, coarsening can move a shelter into the next tile: it is listed there, and only there."""
        zoom, edge = 12, 37.265625  # a western edge of tiles at zoom 12
        assert geo.tile_bounds(zoom, *map(int, geo.tile_xy(47.06, 37.27, zoom)))[1] == edge
        factories.SiteFactory(name="Shelter", restricted=True, latitude=47.06, longitude=37.26)  # west of it
        assert geo.coarsen(47.06, 37.26) == (47.1, 37.3)  # east of it
        assert public.get(tile_url(zoom, 47.06, 37.26)).json()["sites"] == []
        (listed,) = public.get(tile_url(zoom, 47.1, 37.3)).json()["sites"]
        assert (listed["name"], listed["lat"], listed["lon"]) == ("Shelter", 47.1, 37.3)

    def test_the_public_answer_is_the_same_wherever_in_its_cell_a_shelter_really_is(self, public):
        """Nothing finer than the coarsened position leaks through which tile lists it, or how."""
        shelter = factories.SiteFactory(name="Shelter", restricted=True, latitude=47.06, longitude=37.56)
        urls = [tile_url(zoom, 47.1, 37.6) for zoom in (5, 9, 12, 15, 18)]
        urls += [tile_url(18, 47.06, 37.56), tile_url(15, 47.14, 37.64)]
        answers = []
        for latitude, longitude in ((47.06, 37.56), (47.1, 37.6), (47.149, 37.649), (47.051, 37.551)):
            Site.objects.filter(pk=shelter.pk).update(latitude=latitude, longitude=longitude)
            pagecache._new_generation()  # as the commit of a save would
            for url in urls:  # served as it was, rendered again after the response
                public.get(url)
            answers.append([public.get(url).content for url in urls])
        assert all(answer == answers[0] for answer in answers)

    def test_a_tile_with_many_sites_gives_clusters_that_count_them_all(self, public):
        for i in range(60):
            factories.SiteFactory(name=f"Site {i}", latitude=46 + i * 0.05, longitude=30 + i * 0.1)
        data = public.get(en("tracker:map_tile", 0, 0, 0)).json()
        assert data["sites"] == []
        assert sum(c["sites"] for c in data["clusters"]) == 60
        for cluster in data["clusters"]:
            assert cluster["south"] <= cluster["lat"] <= cluster["north"]
            assert cluster["west"] <= cluster["lon"] <= cluster["east"]
        assert data["clusters"][0]["label"].endswith("sites here: zoom in to see them")

    def test_each_site_is_in_exactly_one_tile_of_a_zoom(self, public):
        for i in range(30):
            factories.SiteFactory(latitude=47 + (i % 6) * 0.3, longitude=36 + (i // 6) * 0.4, restricted=i % 3 == 0)
        zoom = 8
        names = []
        for x in range(2**zoom):
            for y in range(2**zoom):
                south, west, north, east = geo.tile_bounds(zoom, x, y)
                if north < 46 or south > 49.5 or east < 35 or west > 39:
                    continue
                names += [s["name"] for s in public.get(en("tracker:map_tile", zoom, x, y)).json()["sites"]]
        assert sorted(names) == sorted(Site.objects.values_list("name", flat=True))

    def test_from_zoom_12_on_every_site_is_listed(self):
        for _ in range(selectors.MARKERS_PER_TILE + 5):
            factories.SiteFactory(restricted=True, latitude=47.1, longitude=37.6)  # one coarse point
        x, y = geo.tile_xy(47.1, 37.6, selectors.CLUSTER_BELOW_ZOOM)
        tile = selectors.map_tile(selectors.CLUSTER_BELOW_ZOOM, int(x), int(y), exact=False)
        assert len(tile.sites) == selectors.MARKERS_PER_TILE + 5
        assert tile.clusters == []

    def test_a_tile_that_does_not_exist_is_404(self, public):
        for zoom, x, y in ((19, 0, 0), (3, 8, 0), (3, 0, 8)):
            assert public.get(en("tracker:map_tile", zoom, x, y)).status_code == 404

    def test_corridor_paths_run_through_public_positions(self, public, login, carol):
        shelter = factories.SiteFactory(restricted=True, latitude=47.098, longitude=37.611)
        corridor = factories.CorridorFactory(
            origin=shelter, destination=factories.SiteFactory(latitude=47.8388, longitude=35.1396)
        )
        (found,) = public.get(en("tracker:map_corridors")).json()["corridors"]
        assert found == {
            "name": corridor.name,
            "url": en("corridors:corridor", corridor.pk),
            "path": [[47.1, 37.6], [47.8388, 35.1396]],
        }
        exact = login(carol).get(en("tracker:map_corridors")).json()["corridors"][0]
        assert exact["path"][0] == [47.098, 37.611]


class TestPage:
    def test_the_tables_come_a_page_at_a_time_with_links_between_pages(self, public):
        for i in range(views.MAP_TABLE_ROWS + 5):
            factories.SiteFactory(name=f"Site {i:03}")
        first = public.get(en("tracker:map")).content.decode()
        assert first.count('<th scope="row" role="rowheader"><a href="/en/sites/') == views.MAP_TABLE_ROWS
        assert "1–100 of 105" in first
        assert 'href="/en/map/?page=2#map-sites-heading" rel="next"' in first
        second = public.get(en("tracker:map") + "?page=2").content.decode()
        assert second.count('<th scope="row" role="rowheader"><a href="/en/sites/') == 5
        assert "Site 104" in second and "Site 000" not in second
        assert 'href="/en/map/#map-sites-heading" rel="prev"' in second

    @pytest.mark.parametrize("query", ["?page=3", "?page=0", "?page=x", "?corridors=2"])
    def test_a_page_past_the_end_or_not_a_number_is_404(self, public, query):
        factories.SiteFactory()
        assert public.get(en("tracker:map") + query).status_code == 404

    def test_the_initial_view_is_around_the_public_positions(self, public, login, carol):
        factories.SiteFactory(latitude=46.4825, longitude=30.7233)
        factories.SiteFactory(restricted=True, latitude=47.098, longitude=37.611)
        html = public.get(en("tracker:map")).content.decode()
        assert 'data-bounds="46.482500,30.723300,47.100000,37.600000"' in html
        exact = login(carol).get(en("tracker:map")).content.decode()
        assert 'data-bounds="46.482500,30.723300,47.098000,37.611000"' in exact

    def test_it_points_the_script_at_the_tiles_and_carries_no_inline_script_or_style(self, public):
        factories.SiteFactory()
        html = public.get(en("tracker:map")).content.decode()
        assert 'data-sites="/en/map/tiles/{z}/{x}/{y}/"' in html
        assert 'data-corridors="/en/map/corridors/"' in html
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert "<style" not in html and " style=" not in html
