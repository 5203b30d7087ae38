"""The dashboard in a real browser, offline but for the app itself."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from corridors.models import Flag
from tests import factories
from tests.browser.conftest import TIMEOUT_MS, log_in, no_horizontal_scroll
from tests.live import wait_for
from tests.screenshots import manifest, sources
from tracker.models import CivilianCount, Site, Source

pytestmark = pytest.mark.browser
UTC = dt.UTC


def test_the_overview_shows_the_azovstal_corridor_and_its_windows_in_local_time(page, live_server, demo, csp):
    page.goto(f"{live_server.url}/en/")
    corridor = page.get_by_role("article", name="Azovstal → Zaporizhzhia")
    expect(corridor).to_be_visible()
    rows = corridor.get_by_role("row")
    # Header row, then 5, 6 and 7 May, 08:00–18:00 Kyiv time (UTC+3 in May).
    expect(rows).to_have_count(4)
    expect(rows.nth(1).get_by_role("rowheader")).to_have_text("08:00–18:00 on 5 May 2022 UTC+3")
    expect(rows.nth(3).get_by_role("rowheader")).to_have_text("08:00–18:00 on 7 May 2022 UTC+3")
    # Each window is closed, and so is the corridor since 7 May (its badge).
    expect(rows.get_by_text("Closed")).to_have_count(3)
    expect(corridor.get_by_text("Closed")).to_have_count(4)
    assert csp.violations == []


def test_switching_to_ukrainian_translates_the_page(page, live_server, demo):
    page.goto(f"{live_server.url}/en/")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Українська").click()
    page.wait_for_url(f"{live_server.url}/uk/")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("heading", name="Гуманітарні коридори")).to_be_visible()
    expect(page.get_by_role("rowheader", name="08:00–18:00, 5 травня 2022 р. UTC+3")).to_be_visible()
    expect(page.get_by_text("приблизно 100 000 осіб")).to_be_visible()
    # And back, on whatever page the reader is on.
    page.get_by_role("link", name="Мапа").click()
    page.get_by_role("navigation", name="Мова").get_by_role("link", name="English").click()
    page.wait_for_url(f"{live_server.url}/en/map/")


def test_a_reporter_on_a_phone_adds_a_count_that_then_appears_on_the_overview(phone, live_server, demo, reporter):
    log_in(phone, live_server, reporter)
    assert no_horizontal_scroll(phone)
    phone.get_by_role("link", name="Add a count").click()
    expect(phone.get_by_role("heading", name="Add a civilian count")).to_be_visible()
    assert no_horizontal_scroll(phone)
    zaporizhzhia = Site.objects.get(name="Zaporizhzhia")
    phone.get_by_label("Site").select_option(str(zaporizhzhia.pk))
    phone.get_by_label("Count").fill("1234")
    phone.get_by_label("Qualifier").select_option("approximately")
    phone.get_by_label("Source").select_option(str(Source.objects.get(name__startswith="Mayor").pk))
    # "As of" defaults to now.
    assert phone.get_by_label("As of").input_value().startswith(timezone.localdate().isoformat())
    phone.get_by_role("button", name="Save the count").click()
    expect(phone.get_by_role("status")).to_contain_text("Count saved.")
    assert CivilianCount.objects.get(site=zaporizhzhia).created_by == reporter

    phone.get_by_role("link", name="Overview").click()
    row = phone.get_by_role("row").filter(has=phone.get_by_role("rowheader", name="Zaporizhzhia", exact=True))
    expect(row).to_contain_text("about 1,234 people")
    assert no_horizontal_scroll(phone)


def test_a_coordinator_dismisses_a_flag_from_the_queue_and_the_badge_goes(page, live_server, coordinator):
    # A flag as the engine would have raised it (made directly: this test is about the review).
    corridor = factories.CorridorFactory(name="Berdiansk → Zaporizhzhia")
    window = factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 5, 5, tzinfo=UTC))
    report = factories.HostilityReportFactory(site=factories.SiteFactory(name="Vasylivka"))
    factories.FlagFactory(window=window, hostility=report, raised_at=dt.datetime(2022, 5, 5, 8, tzinfo=UTC))

    page.goto(f"{live_server.url}/en/")
    article = page.get_by_role("article", name="Berdiansk → Zaporizhzhia")
    expect(article.locator(".badge.flag").first).to_have_text("1 flag")

    log_in(page, live_server, coordinator)
    page.get_by_role("link", name="Flags to review").click()
    review = page.get_by_role("article", name="Berdiansk → Zaporizhzhia: 08:00–18:00 on 5 May 2022")
    # Dismissing needs a reason: without one nothing changes.
    review.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why the flag is dismissed.")
    review = page.get_by_role("article", name="Berdiansk → Zaporizhzhia: 08:00–18:00 on 5 May 2022")
    review.get_by_label("Note").fill("The shelling was on the other road, 20 km away.")
    review.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status")).to_contain_text("Flag dismissed.")
    expect(page.get_by_text("No open flags. Nothing to review.")).to_be_visible()
    assert Flag.objects.get().status == Flag.Status.DISMISSED

    page.get_by_role("link", name="Overview").click()
    article = page.get_by_role("article", name="Berdiansk → Zaporizhzhia")
    expect(article).to_be_visible()
    expect(article.locator(".badge.flag")).to_have_count(0)


def test_the_map_shows_markers_and_paths_with_the_tiles_blocked(page, live_server, demo, offline, csp):
    page.goto(f"{live_server.url}/en/map/")
    markers = page.locator("path.site-marker")
    expect(markers).to_have_count(Site.objects.count())
    expect(page.locator("path.corridor-path")).to_have_count(1)
    # The tiles were asked for, and blocked: the map stands without them.
    page.wait_for_timeout(500)
    assert any("tile.openstreetmap.org" in url for url in offline.blocked)
    markers.first.click(force=True)
    expect(page.locator(".leaflet-popup-content a")).to_be_visible()
    assert csp.violations == []


def test_the_overview_refreshes_its_data_every_minute_without_reloading(page, live_server, demo):
    page.clock.install()
    page.goto(f"{live_server.url}/en/")
    expect(page.get_by_role("button", name="Pause live updates")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    site = factories.SiteFactory(name="Orikhiv")
    factories.CivilianCountFactory(site=site, count=777, as_of=timezone.now())
    expect(page.get_by_text("Orikhiv")).to_have_count(0)
    # The first refresh after the write gets the page as it was, and the server renders the
    # new one after answering it (tracker/pagecache.py): a refresh after that has the count.
    orikhiv = page.get_by_role("rowheader", name="Orikhiv")

    def refreshed() -> bool:
        page.clock.run_for(61_000)
        return orikhiv.count() > 0

    wait_for(refreshed, TIMEOUT_MS / 1000, "the count was on the overview after a refresh")
    expect(orikhiv).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True


def test_the_overview_works_without_javascript(browser, live_server, demo, offline):
    context = browser.new_context(java_script_enabled=False)
    context.route("**/*", offline)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/en/")
        expect(page.get_by_role("article", name="Azovstal → Zaporizhzhia")).to_be_visible()
        expect(page.get_by_role("link", name="Reload for the latest data")).to_be_visible()
    finally:
        context.close()


def test_screenshots_of_the_overview(browser, live_server, demo, offline, tmp_path, client):
    """
    Desktop and 360 px, in both languages. TRACKER_SCREENSHOTS=docs/screenshots saves them
    for the README, with the list of the files they show (SOURCES, tests/screenshots.py).
    """
    folder = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SOURCES").write_text(manifest(sources(client)))
    for name, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 360, "height": 740})):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        context.route("**/*", offline)
        try:
            page = context.new_page()
            for language in ("en", "uk"):
                page.goto(f"{live_server.url}/{language}/")
                assert no_horizontal_scroll(page)
                path = folder / f"overview-{language}-{name}.png"
                page.screenshot(path=path, full_page=True)
                assert path.stat().st_size > 10_000
        finally:
            context.close()
