"""
On a phone: a count typed at 03:30 on the night the clocks go back is refused with
both times named, the form asks which one was meant, and saves the one chosen.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests import factories
from tests.browser.conftest import log_in, no_horizontal_scroll
from tests.browser.test_accessibility import violations
from tracker.models import CivilianCount

pytestmark = pytest.mark.browser


def test_a_repeated_time_is_asked_about_and_the_chosen_one_saved(phone, live_server, reporter):
    site = factories.SiteFactory(name="Azovstal steel plant", timezone="Europe/Kyiv")
    factories.SourceFactory(name="Mayor of Mariupol")
    log_in(phone, live_server, reporter)
    phone.goto(f"{live_server.url}/en/staff/counts/new/")
    phone.locator("#id_site").select_option(label=site.name)
    phone.locator("#id_count").fill("12")
    phone.locator("#id_qualifier").select_option("exact")
    phone.locator("#id_as_of").fill("2022-10-30T03:30")
    phone.locator("#id_source").select_option(label="Mayor of Mariupol")
    phone.get_by_role("button", name="Save the count").click()

    error = phone.get_by_text("2022-10-30 03:30 happened twice in Europe/Kyiv")
    error.wait_for()
    assert "give 03:30 +03:00 (the first) or 03:30 +02:00 (the second)" in error.inner_text()
    assert phone.locator("#id_as_of").input_value() == "2022-10-30T03:30"  # kept as typed
    assert violations(phone) == []
    assert no_horizontal_scroll(phone)
    assert not CivilianCount.objects.exists()

    phone.get_by_label("03:30 +02:00, the second time").check()
    phone.get_by_role("button", name="Save the count").click()
    phone.get_by_text("Count saved.").wait_for()
    assert CivilianCount.objects.get().as_of == dt.datetime(2022, 10, 30, 1, 30, tzinfo=dt.UTC)
