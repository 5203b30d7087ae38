"""The public dashboard: the overview, a site's page and the map, in both languages."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from corridors.models import CorridorWindow, Flag
from tests import factories
from tests.scenarios import NOW, build_world, queries_for
from tracker.models import Site, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def uk(name, *args):
    with translation.override("uk"):
        return reverse(name, args=args)


def text_of(response) -> str:
    """The page's text without tags, whitespace collapsed: what a reader sees."""
    html = response.content.decode()
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=io.StringIO())


class TestUrls:
    def test_the_root_redirects_to_a_language(self, public):
        response = public.get("/", HTTP_ACCEPT_LANGUAGE="uk")
        assert response.status_code == 302
        assert response["Location"] == "/uk/"

    def test_pages_live_under_a_language_prefix_and_the_admin_does_not(self):
        assert en("tracker:overview") == "/en/"
        assert uk("tracker:map") == "/uk/map/"
        assert reverse("admin:index") == "/admin/"


class TestOverview:
    def test_it_shows_the_demo_corridor_with_its_windows_in_local_time(self, public, demo):
        response = public.get(en("tracker:overview"))
        assert response.status_code == 200
        text = text_of(response)
        assert "Azovstal → Zaporizhzhia" in text
        # 08:00–18:00 Kyiv time, which was UTC+3 in May 2022 (05:00–15:00 UTC).
        assert "08:00–18:00 on 5 May 2022 UTC+3" in text
        assert "No windows to come. The latest ones" in text
        assert "Closed" in text
        assert "A ceasefire was announced for its windows — a claim by Russian military officials" in text

    def test_it_shows_counts_with_qualifier_source_and_both_figures_where_sources_disagree(self, public, demo):
        text = text_of(public.get(en("tracker:overview")))
        assert "about 100,000 people" in text
        assert "about 200 people" in text
        assert "Sources disagree:" in text
        assert "about 300–400 people" in text
        assert "Mayor of Mariupol (Vadym Boichenko)" in text

    def test_it_compares_who_left_and_who_arrived_per_window(self, public, demo):
        text = text_of(public.get(en("tracker:overview")))
        assert "50 people left" in text
        assert "about 40 people arrived" in text
        assert "about 10 people not accounted for" in text

    def test_it_lists_recent_hostility_reports_in_local_time_with_their_precision(self, public, demo):
        text = text_of(public.get(en("tracker:overview")))
        assert "Shelling at Mariupol" in text
        assert "10:00–12:00 on 5 May 2022" in text
        assert "from 3 May 2022 to 20 May 2022 (days known, not times)" in text
        assert "around 17:00 on 7 May 2022 (hour known)" in text

    def test_it_states_when_the_data_is_from(self, public, demo):
        with time_machine.travel(dt.datetime(2022, 5, 6, 9, 30, tzinfo=UTC), tick=False):
            text = text_of(public.get(en("tracker:overview")))
        assert "Data as of 6 May 2022, 12:30 (UTC+3)" in text

    @time_machine.travel(NOW, tick=False)
    def test_an_open_window_says_so_with_the_time_left(self, public):
        build_world(1)
        text = text_of(public.get(en("tracker:overview")))
        assert "Current and coming windows" in text
        # The 6 May window runs 05:00–15:00 UTC; at 09:00 UTC six hours are left.
        assert "Open now 6 h 0 min left" in text
        assert "Scheduled" in text

    def test_the_flag_badge_counts_open_and_acknowledged_flags_only(self, public):
        window = factories.WindowFactory()
        factories.FlagFactory(window=window)
        factories.FlagFactory(window=window, status=Flag.Status.ACKNOWLEDGED)
        factories.FlagFactory(window=window, status=Flag.Status.DISMISSED, review_note="another road")
        factories.FlagFactory(window=window, status=Flag.Status.WITHDRAWN)
        text = text_of(public.get(en("tracker:overview")))
        assert "2 flags" in text
        assert "4 flags" not in text

    def test_an_acknowledged_flag_is_not_counted_as_open_and_a_flag_is_explained_once(self, public):
        factories.FlagFactory(status=Flag.Status.ACKNOWLEDGED)
        text = text_of(public.get(en("tracker:overview")))
        assert "open flag" not in text
        assert "1 flag" in text
        assert text.count("What is a flag?") == 1
        assert "the flags awaiting a coordinator's review and those a coordinator acknowledged" in text

    def test_a_corridor_without_flags_has_no_badge(self, public):
        factories.WindowFactory()
        assert 'class="badge flag"' not in public.get(en("tracker:overview")).content.decode()

    def test_beside_the_time_of_the_page_it_says_how_old_the_latest_figure_is(self, public):
        factories.CivilianCountFactory(as_of=dt.datetime(2022, 5, 16, 7, 0, tzinfo=UTC))
        factories.DepartureFactory(departed_at=dt.datetime(2022, 5, 17, 9, 30, tzinfo=UTC))
        factories.HostilityReportFactory(
            started_at=dt.datetime(2022, 6, 1, 7, tzinfo=UTC), verification=Verification.RETRACTED
        )
        with time_machine.travel(dt.datetime(2026, 12, 7, 20, 0, tzinfo=UTC), tick=False):
            text = text_of(public.get(en("tracker:overview")))
        assert "Data as of 7 December 2026, 22:00 (UTC+2). Latest figure: 17 May 2022, 12:30 (UTC+3)" in text

    def test_with_no_figures_it_says_so(self, public):
        assert "No figures are recorded yet." in text_of(public.get(en("tracker:overview")))

    def test_the_data_fragment_is_the_overview_without_the_page_around_it(self, public, demo):
        response = public.get(en("tracker:overview_data"))
        assert response.status_code == 200
        html = response.content.decode()
        assert "Azovstal → Zaporizhzhia" in html
        assert "<html" not in html
        assert 'id="live"' not in html

    def test_the_overview_points_its_script_at_the_data_fragment_and_works_without_it(self, public, demo):
        html = public.get(en("tracker:overview")).content.decode()
        assert f'data-src="{en("tracker:overview_data")}"' in html
        assert "Reload for the latest data" in html
        assert "<script>" not in html and "style=" not in html

    def test_a_retracted_count_is_not_the_latest(self, public):
        site = factories.SiteFactory(name="Shelter X")
        factories.CivilianCountFactory(site=site, count=120)
        factories.CivilianCountFactory(
            site=site, count=999, as_of=dt.datetime(2022, 5, 5, tzinfo=UTC), verification="retracted"
        )
        text = text_of(public.get(en("tracker:overview")))
        assert "about 120 people" in text
        assert "999" not in text

    def test_an_older_count_of_another_source_is_history_not_a_disagreement(self, public):
        site = factories.SiteFactory(name="Shelter Y")
        factories.CivilianCountFactory(site=site, count=120, as_of=dt.datetime(2022, 5, 10, tzinfo=UTC))
        factories.CivilianCountFactory(site=site, count=80, as_of=dt.datetime(2022, 5, 1, tzinfo=UTC))
        text = text_of(public.get(en("tracker:overview")))
        assert "Sources disagree" not in text
        assert "about 80 people" not in text


class TestUkrainian:
    def test_the_overview_is_in_ukrainian_with_ukrainian_dates_and_numbers(self, public, demo):
        response = public.get(uk("tracker:overview"))
        html = response.content.decode()
        assert '<html lang="uk">' in html
        text = text_of(response)
        assert "Гуманітарні коридори" in text
        assert "08:00–18:00, 5 травня 2022 р." in text
        # Grouped with a no-break space, and the plural form that 100 000 takes.
        assert "приблизно 100\xa0000 осіб" in text
        assert "Закрите" in text

    def test_the_language_switch_links_to_the_same_page_in_the_other_language(self, public, demo):
        site = Site.objects.get(name="Mariupol")
        html = public.get(en("tracker:site", site.pk)).content.decode()
        assert f'href="{uk("tracker:site", site.pk)}" hreflang="uk" lang="uk"' in html
        assert 'aria-current="true">English' in html


class TestSitePage:
    def test_it_shows_the_count_history_as_a_chart_and_a_table(self, public, demo):
        site = Site.objects.get(name="Azovstal steel plant")
        response = public.get(en("tracker:site", site.pk))
        html = response.content.decode()
        # A wide drawing, and a narrow one for a phone (CSS shows one of them).
        assert '<svg viewBox="0 0 640 240" role="img"' in html
        assert '<svg viewBox="0 0 340 240" role="img"' in html
        assert html.count('class="marker"') == 2 * 2 + 2  # two counts in each drawing, and two sources in the legend
        text = text_of(response)
        assert "Civilian counts at Azovstal steel plant, oldest first" in text
        assert "about 300–400 people" in text

    def test_a_restricted_site_shows_only_its_coarsened_position_to_the_public(self, public, demo):
        site = Site.objects.get(name="Azovstal steel plant")
        text = text_of(public.get(en("tracker:site", site.pk)))
        assert "47.1, 37.6" in text
        assert "47.098" not in text and "37.611" not in text
        assert "approximate (within about 10 km)" in text

    def test_a_coordinator_sees_the_exact_position_with_a_warning(self, login, carol, demo):
        site = Site.objects.get(name="Azovstal steel plant")
        text = text_of(login(carol).get(en("tracker:site", site.pk)))
        assert "47.098, 37.611" in text
        assert "do not share it" in text

    def test_it_lists_child_sites_and_reports_here_and_inside(self, public, demo):
        mariupol = Site.objects.get(name="Mariupol")
        text = text_of(public.get(en("tracker:site", mariupol.pk)))
        assert "Sites inside" in text and "Azovstal steel plant" in text
        assert "Ground assault at Azovstal steel plant" in text
        assert "Shelling at Mariupol" in text
        assert "Missile strike at Odesa" not in text

    def test_an_unknown_site_is_404(self, public):
        assert public.get(en("tracker:site", 999_999)).status_code == 404


class TestMap:
    def test_restricted_sites_are_placed_at_their_coarsened_position(self, public, demo):
        html = public.get(en("tracker:map")).content.decode()
        azovstal = re.search(
            r'<tr data-lat="([\d.]+)" data-lon="([\d.]+)" data-approximate="1" data-name="Azovstal', html
        )
        assert azovstal is not None
        assert (float(azovstal[1]), float(azovstal[2])) == (47.1, 37.6)
        assert "47.098" not in html

    def test_it_uses_the_configured_tiles_and_vendored_leaflet(self, public, settings, demo):
        html = public.get(en("tracker:map")).content.decode()
        assert f'data-tiles="{settings.MAP_TILE_URL}"' in html
        assert "/static/tracker/vendor/leaflet-1.9.4/leaflet.js" in html
        assert "unpkg" not in html and "cdn" not in html.lower()

    def test_corridor_paths_run_through_public_positions(self, public, demo):
        html = public.get(en("tracker:map")).content.decode()
        path = re.search(r'data-path="([^"]+)"', html)[1]
        assert path.startswith("47.100000,37.600000;")


class TestContentSecurityPolicy:
    def test_every_page_forbids_inline_scripts_and_styles(self, public, demo):
        response = public.get(en("tracker:overview"))
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "img-src 'self' data: https://tile.openstreetmap.org" in policy

    @pytest.mark.parametrize("name", ["tracker:overview", "tracker:map", "tracker:login"])
    def test_pages_carry_no_inline_script_or_style(self, public, demo, name):
        html = public.get(en(name)).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert "<style" not in html
        assert " style=" not in html


class TestQueryCounts:
    """A page runs the same number of queries whatever the amount of data."""

    @pytest.mark.parametrize("name", ["tracker:overview", "tracker:overview_data", "tracker:map"])
    @time_machine.travel(NOW, tick=False)
    def test_public_pages(self, public, name, django_capture_on_commit_callbacks):
        build_world(1, prefix="A")
        few = queries_for(public, en(name))
        # Committed, the writes make the kept page stale (tracker/pagecache.py): it is rendered again.
        with django_capture_on_commit_callbacks(execute=True):
            build_world(4, prefix="B")
        assert queries_for(public, en(name)) == few

    @time_machine.travel(NOW, tick=False)
    def test_site_page(self, public, django_capture_on_commit_callbacks):
        build_world(1)
        site = Site.objects.get(name="W0 shelter")
        factories.SiteFactory(parent=site)
        few = queries_for(public, en("tracker:site", site.pk))
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(5):
                factories.CivilianCountFactory(site=site, count=100 + i, source=factories.SourceFactory())
                factories.SiteFactory(parent=site)
                factories.HostilityReportFactory(site=site)
        assert queries_for(public, en("tracker:site", site.pk)) == few

    @time_machine.travel(NOW, tick=False)
    def test_corridor_page(self, public, django_capture_on_commit_callbacks):
        build_world(1)
        window = CorridorWindow.objects.first()
        few = queries_for(public, en("corridors:corridor", window.corridor_id))
        with django_capture_on_commit_callbacks(execute=True):
            for day in (8, 9, 10, 11):
                later = factories.WindowFactory(
                    corridor=window.corridor, starts_at=dt.datetime(2022, 5, day, 5, tzinfo=UTC)
                )
                factories.FlagFactory(window=later)
                factories.DepartureFactory(window=later, corridor=window.corridor)
        assert queries_for(public, en("corridors:corridor", window.corridor_id)) == few
