"""
The flag engine seen from the dashboard: a hostility report added during a window puts
a flag badge on that window. Needs the flag engine (issue 3): this is what the public
sees of it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tracker import services
from tracker.localtime import to_utc
from tracker.management.commands.load_demo import LOADER_USERNAME
from tracker.models import HostilityReport, Site, Source, User

pytestmark = pytest.mark.browser


def open_flags(cell_text: str) -> int:
    found = re.search(r"(\d+) flags?", cell_text)
    return int(found[1]) if found else 0


def test_a_flag_badge_appears_on_the_window_after_a_hostility_report_is_added(page, live_server, demo):
    page.goto(f"{live_server.url}/en/")
    corridor = page.get_by_role("article", name="Azovstal → Zaporizhzhia")
    seventh = corridor.get_by_role("row").filter(has_text="08:00–18:00 on 7 May 2022")
    expect(seventh).to_have_count(1)
    before = open_flags(seventh.get_by_role("cell").nth(1).inner_text())

    # Shelling at the plant, 10:00–11:00 local on 7 May, inside that day's 08:00–18:00 window:
    # written through the service, as the staff form, the API and the admin write it.
    local = lambda hour: to_utc(dt.datetime(2022, 5, 7, hour), "Europe/Kyiv")  # noqa: DTZ001, E731
    services.hostility_report_save(
        report=HostilityReport(
            site=Site.objects.get(name="Azovstal steel plant"),
            kind=HostilityReport.Kind.SHELLING,
            started_at=local(10),
            ended_at=local(11),
            time_precision=HostilityReport.Precision.EXACT,
            source=Source.objects.get(name__startswith="Mayor"),
        ),
        user=User.objects.get(username=LOADER_USERNAME),
    )

    expected = before + 1
    label = f"{expected} flag" if expected == 1 else f"{expected} flags"
    # The engine's task runs after the commit; the page shows it on the next load.
    for _ in range(20):
        page.reload()
        if open_flags(seventh.get_by_role("cell").nth(1).inner_text()) == expected:
            break
        page.wait_for_timeout(500)
    expect(seventh.get_by_role("link", name=label)).to_be_visible()
    expect(corridor.locator(".badges .badge.flag")).to_be_visible()
