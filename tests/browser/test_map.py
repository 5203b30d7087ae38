"""The map in a real browser: its sites by tile and in clusters, and names shown as text, never run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.test_accessibility import violations
from tracker.models import Site

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror="window.__xss = 1">'


def test_names_on_the_map_are_text_and_run_nothing(page, live_server, transactional_db, csp):
    site = factories.SiteFactory(name=HOSTILE, latitude=47.0971, longitude=37.5434)
    factories.CorridorFactory(
        name=HOSTILE + " corridor", origin=site, destination=factories.SiteFactory(latitude=47.84, longitude=35.14)
    )
    page.goto(f"{live_server.url}/en/map/")
    markers = page.locator("path.site-marker")
    expect(markers).to_have_count(2)
    tooltip = page.locator(".leaflet-tooltip")
    names = []
    for i in range(2):
        markers.nth(i).dispatch_event("mouseover")
        names.append(tooltip.last.inner_text())
        markers.nth(i).dispatch_event("mouseout")
    assert HOSTILE in names
    assert tooltip.locator("img").count() == 0
    markers.nth(names.index(HOSTILE)).click(force=True)
    expect(page.locator(".leaflet-popup-content a")).to_have_text(HOSTILE)
    page.locator(".leaflet-popup-close-button").click()  # it may cover the path
    page.locator("path.corridor-path").dispatch_event("mouseover")
    expect(page.locator(".leaflet-tooltip").filter(has_text="corridor")).to_have_text(HOSTILE + " corridor")
    assert page.locator(".leaflet-container img:not(.leaflet-tile)").count() == 0
    assert page.evaluate("window.__xss") is None
    assert csp.violations == []


def test_thousands_of_sites_come_in_clusters_that_open_when_selected(page, live_server, transactional_db, offline):
    Site.objects.bulk_create(
        Site(name=f"Shelter {i}", kind="shelter", latitude=46.0 + (i % 40) * 0.1, longitude=30.0 + (i // 40) * 0.2)
        for i in range(2000)
    )
    page.goto(f"{live_server.url}/en/map/")
    clusters = page.locator(".site-cluster")
    expect(clusters.first).to_be_visible()
    page.wait_for_load_state("networkidle")
    in_clusters = sum(int(text) for text in clusters.all_inner_texts())
    assert in_clusters + page.locator("path.site-marker").count() == 2000, "every site, once"
    assert in_clusters > 1500
    assert violations(page) == []
    # Zoomed in on it: fewer sites per tile, until they are shown one by one.
    for _ in range(6):
        if page.locator("path.site-marker").count():
            break
        page.locator(".site-cluster").first.click()
        page.wait_for_timeout(500)
    expect(page.locator("path.site-marker").first).to_be_visible()
    # The table beneath lists them a page at a time, with or without the map.
    caption = page.get_by_role("table", name="Sites with their position and latest count")
    expect(caption).to_contain_text("1–100 of 2,000")
