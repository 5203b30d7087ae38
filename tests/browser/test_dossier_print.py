"""The evidence dossier printed from the browser: A4, the screen-only links gone, nothing cut off at the edge."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests import factories
from tests.corridors import ceasefire_data
from tracker.models import Role

pytestmark = pytest.mark.browser

A4_POINTS = (595, 842)


@pytest.fixture
def case(transactional_db):
    organisation = factories.OrganisationFactory(name="Helping Hands")
    coordinator = factories.UserFactory(username="carol", organisation=organisation, role=Role.COORDINATOR)
    return ceasefire_data.build(coordinator)


def test_the_dossier_prints_on_a4_with_every_flag_and_no_screen_links(page, live_server, case, offline, csp):
    page.goto(f"{live_server.url}/en/corridors/{case.corridor.pk}/dossier/")
    page.emulate_media(media="print")
    assert not page.get_by_role("link", name="Download as PDF (A4)").is_visible()
    # Nothing wider than the printable width of A4 (210 mm less the margins), at 96 px to the inch.
    printable = (210 - 32) / 25.4 * 96
    page.set_viewport_size({"width": round(printable), "height": 1000})
    widest = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= printable + 1

    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    reader = PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == A4_POINTS
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() or "" for p in reader.pages))
    assert "Ground assault at Azovstal reported by Azov regiment" in text
    assert "Download as PDF" not in text
    assert re.search(r"[0-9a-f]{64}", text.replace(" ", ""))
    assert offline.blocked == []
    assert csp.violations == []


def test_the_record_the_dossier_and_its_check_pass_axe(page, live_server, case):
    from tests.browser.test_accessibility import violations

    source = case.corridor.announced_by_id
    for path in (
        f"/en/sources/{source}/record/",
        f"/uk/sources/{source}/record/",
        f"/en/corridors/{case.corridor.pk}/dossier/",
        f"/uk/corridors/{case.corridor.pk}/dossier/",
        "/en/dossiers/verify/",
    ):
        page.goto(live_server.url + path)
        assert violations(page) == [], path
