"""
Every time in the admin says its zone and UTC offset: the admin reads and shows times
in TIME_ZONE (Europe/Kyiv here), never in UTC, and a label that said "in UTC" beside
08:00 for 05:00Z moved windows by hours.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from corridors import services
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC
SUMMER = "Europe/Kyiv (UTC+3)"


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def window(db):
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia")
    return factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 5, 5, tzinfo=UTC))


def test_the_corridor_page_labels_each_window_time_with_its_zone_and_never_says_utc(login, carol, window):
    response = login(carol).get(reverse("admin:corridors_corridor_change", args=[window.corridor_id]))
    html = response.content.decode()
    assert "in UTC" not in html
    # 05:00Z is 08:00 in Kyiv in May: the box says so beside the time it shows.
    start = re.search(r'name="windows-0-starts_at_1" value="([^"]+)"[^>]*>\s*<span class="zone">([^<]+)</span>', html)
    assert start is not None and start.groups() == ("08:00:00", SUMMER)
    assert "2022-05-05 08:00–2022-05-05 18:00 Europe/Kyiv (UTC+3)" in text_of(response)  # local at the origin


def test_a_winter_time_says_its_winter_offset(login, carol):
    window = factories.WindowFactory(starts_at=dt.datetime(2022, 12, 5, 6, tzinfo=UTC))
    html = login(carol).get(reverse("admin:corridors_corridorwindow_change", args=[window.pk])).content.decode()
    assert re.search(r'value="08:00:00"[^>]*>\s*<span class="zone">Europe/Kyiv \(UTC\+2\)</span>', html)


@time_machine.travel(dt.datetime(2022, 5, 1, tzinfo=UTC), tick=False)
def test_an_empty_box_names_the_zone_and_both_of_its_offsets(login, carol):
    html = login(carol).get(reverse("admin:tracker_civiliancount_add")).content.decode()
    assert '<span class="zone">Europe/Kyiv (UTC+2 or UTC+3, by the date)</span>' in html


def test_list_columns_say_the_zone_and_offset(login, carol, window):
    text = text_of(login(carol).get(reverse("admin:corridors_corridorwindow_changelist")))
    assert f"5 May 2022, 08:00 {SUMMER}" in text
    assert f"5 May 2022, 18:00 {SUMMER}" in text


def test_read_only_times_say_the_zone_and_offset(login, carol, window):
    flag = factories.FlagFactory(window=window, raised_at=dt.datetime(2022, 5, 5, 7, 1, tzinfo=UTC))
    text = text_of(login(carol).get(reverse("admin:corridors_flag_change", args=[flag.pk])))
    assert f"5 May 2022, 10:01 {SUMMER}" in text  # raised at
    assert f"5 May 2022, 08:00 {SUMMER}" in text  # the overlap's start


def test_a_figure_of_another_organisation_shows_its_times_read_only_with_the_zone(login, carol, bob):
    count = factories.CivilianCountFactory(
        organisation=bob.organisation, created_by=bob, as_of=dt.datetime(2022, 5, 4, 9, tzinfo=UTC)
    )
    text = text_of(login(carol).get(reverse("admin:tracker_civiliancount_change", args=[count.pk])))
    assert f"4 May 2022, 12:00 {SUMMER}" in text


def test_the_history_of_a_change_says_its_time_with_the_zone(login, carol, window):
    with time_machine.travel(dt.datetime(2022, 12, 1, 10, tzinfo=UTC), tick=False):
        window.cancelled = True
        services.window_save(window=window, user=carol)
    text = text_of(login(carol).get(reverse("admin:corridors_corridorwindow_history", args=[window.pk])))
    assert "1 December 2022, 12:00 Europe/Kyiv (UTC+2)" in text
