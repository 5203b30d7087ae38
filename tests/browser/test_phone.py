"""
On a 360 px phone: the site page's and the map's tables show every column, the count
chart's labels stay readable, and the quick forms help a reporter in the field: the
window open now is chosen, the site and source typed last are the next form's, and a
saved hostility report says which windows it flags.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from corridors.models import CorridorWindow
from tests import factories
from tests.browser.conftest import log_in, no_horizontal_scroll
from tests.browser.test_accessibility import violations
from tracker.models import CivilianCount, HostilityReport, Source

pytestmark = pytest.mark.browser
UTC = dt.UTC

# Every scroll region on the page shows all it holds: nothing is cut off at its right edge.
CLIPPED = """() => [...document.querySelectorAll('.scroll')]
  .filter(region => region.scrollWidth > region.clientWidth + 1)
  .map(region => region.getAttribute('aria-labelledby'))"""
# The size on screen, in CSS px, of the visible count chart's labels.
LABEL_PX = """() => {
  const svg = [...document.querySelectorAll('svg.count-chart')].find(e => e.getBoundingClientRect().width > 0);
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('.tick-label')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
}"""


@pytest.fixture
def azovstal(transactional_db):
    site = factories.SiteFactory(name="Azovstal steel plant", timezone="Europe/Kyiv")
    mayor = factories.SourceFactory(name="Mayor of Mariupol (Vadym Boichenko)")
    regiment = factories.SourceFactory(name="Azov regiment, press service")
    for day, count, source in ((1, 1000, mayor), (3, 600, regiment), (6, 300, mayor), (7, 200, regiment)):
        factories.CivilianCountFactory(
            site=site,
            source=source,
            count=count,
            count_high=count + 100,
            qualifier="approximately",
            as_of=dt.datetime(2022, 5, day, 9, tzinfo=UTC),
        )
    return site


def test_the_site_page_and_the_map_show_every_column_and_readable_chart_labels(phone, live_server, azovstal):
    phone.goto(f"{live_server.url}/en/sites/{azovstal.pk}/")
    expect(phone.get_by_role("table", name="Civilian counts at Azovstal steel plant")).to_be_visible()
    assert phone.evaluate(CLIPPED) == []
    # The last column, what a reader is most likely to miss: the verification of each count.
    last_column = phone.get_by_role("table", name="Civilian counts at Azovstal steel plant").get_by_role(
        "cell", name="Verification Unverified"
    )
    expect(last_column).to_have_count(4)
    last_column.last.scroll_into_view_if_needed()
    expect(last_column.last).to_be_in_viewport(ratio=1)
    sizes = phone.evaluate(LABEL_PX)
    assert sizes and min(sizes) >= 11, sizes
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []

    phone.goto(f"{live_server.url}/en/map/")
    expect(phone.get_by_role("table", name="Sites with their position and latest count")).to_be_visible()
    assert phone.evaluate(CLIPPED) == []
    last_column = phone.get_by_role("cell", name="Civilians about 200–300 people")
    last_column.scroll_into_view_if_needed()
    expect(last_column).to_be_in_viewport(ratio=1)
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []


def test_the_quick_forms_choose_the_open_window_remember_the_place_and_tell_what_a_report_flags(
    phone, live_server, reporter, azovstal
):
    now = timezone.now()
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal)
    hour = now.replace(minute=0, second=0, microsecond=0)
    closed, open_now, tomorrow = (
        factories.WindowFactory(
            corridor=corridor, starts_at=hour + dt.timedelta(hours=h), ends_at=hour + dt.timedelta(hours=h + 3)
        )
        for h in (-26, -1, 23)
    )
    log_in(phone, live_server, reporter)

    # A count at the plant: its site and source become the next forms' defaults.
    phone.goto(f"{live_server.url}/en/staff/counts/new/")
    phone.locator("#id_site").select_option(label=azovstal.name)
    phone.locator("#id_count").fill("150")
    phone.locator("#id_qualifier").select_option("approximately")
    phone.locator("#id_source").select_option(label="Azov regiment, press service")
    phone.get_by_role("button", name="Save the count").click()
    expect(phone.get_by_text("Count saved.")).to_be_visible()
    assert CivilianCount.objects.filter(created_by=reporter).count() == 1

    # The hostility report form starts where the count was typed.
    phone.goto(f"{live_server.url}/en/staff/hostilities/new/")
    assert phone.locator("#id_site").input_value() == str(azovstal.pk)
    source = Source.objects.get(name="Azov regiment, press service")
    assert phone.locator("#id_source").input_value() == str(source.pk)
    phone.locator("#id_kind").select_option("shelling")
    phone.locator("#id_time_precision").select_option("exact")
    assert no_horizontal_scroll(phone)
    phone.get_by_role("button", name="Save the report").click()
    message = phone.get_by_text("Hostility report saved. It flags 1 corridor window: Azovstal → Zaporizhzhia")
    expect(message).to_be_visible()
    assert HostilityReport.objects.filter(created_by=reporter).count() == 1

    # The departure form: the window open now is chosen, listed first; tomorrow's is not offered.
    phone.goto(f"{live_server.url}/en/staff/departures/new/")
    assert phone.locator("#id_origin").input_value() == str(azovstal.pk)
    assert phone.locator("#id_window").input_value() == str(open_now.pk)
    offered = phone.locator("#id_window option").evaluate_all("options => options.map(o => o.value)")
    assert offered[1:] == [str(open_now.pk), str(closed.pk)]
    assert str(tomorrow.pk) not in offered
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    assert CorridorWindow.objects.count() == 3
