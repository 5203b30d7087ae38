"""
Every page passes axe-core's WCAG 2.1 A and AA rules (contrast included), in both
languages, on a desktop and at 360 px.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from corridors.models import CorridorWindow
from tests import factories
from tests.browser.conftest import PHONE, log_in
from tracker.models import Site

pytestmark = pytest.mark.browser
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page) -> list[str]:
    # Evaluated through the browser's debugging protocol, which the page's CSP does not govern.
    page.evaluate(AXE)
    result = page.evaluate(f"axe.run(document, {json.dumps(RULES)})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in result["violations"]
    ]


@pytest.fixture
def flagged_demo(demo):
    """The demo with one flag on its first window, so that badges and flag texts are on the pages."""
    window = CorridorWindow.objects.order_by("starts_at").first()
    report = factories.HostilityReportFactory(site=factories.SiteFactory(name="Test site"))
    factories.FlagFactory(window=window, hostility=report, raised_at=dt.datetime(2022, 5, 5, 9, tzinfo=dt.UTC))
    return window


def test_public_pages_pass_axe_on_a_desktop_and_a_phone(browser, live_server, flagged_demo, offline):
    site = Site.objects.get(name="Azovstal steel plant")
    paths = ["/en/", "/uk/", f"/en/sites/{site.pk}/", f"/uk/corridors/{flagged_demo.corridor_id}/", "/en/map/"]
    for viewport in ({"width": 1280, "height": 900}, PHONE):
        context = browser.new_context(viewport=viewport)
        context.route("**/*", offline)
        try:
            page = context.new_page()
            for path in paths:
                page.goto(live_server.url + path)
                assert violations(page) == [], f"{path} at {viewport['width']} px"
        finally:
            context.close()


def test_staff_pages_pass_axe(page, live_server, flagged_demo, coordinator):
    log_in(page, live_server, coordinator)
    for path in ("/en/staff/", "/en/staff/counts/new/", "/uk/staff/hostilities/new/", "/en/staff/flags/"):
        page.goto(live_server.url + path)
        assert violations(page) == [], path
    # A form with errors, as a person sees it after a mistake.
    page.goto(live_server.url + "/en/staff/departures/new/")
    page.get_by_role("button", name="Save the departure").click()
    assert violations(page) == [], "departure form with errors"
