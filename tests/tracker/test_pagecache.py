"""
The public pages kept in the cache (tracker/pagecache.py): kept for the public only,
per language, answered 304 when unchanged, a committed write on the page once it is
rendered again in the background (the request after the write gets the page as it was
and renders it after its response: the test client closes each response as a WSGI
server does, so the next request gets the new page), and never shown past the next
window opening or closing, nor longer than the refresh interval.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import translation

from corridors import selectors as corridor_selectors
from corridors import services as corridor_services
from corridors.models import Flag
from tests import factories
from tracker import geo, pagecache, secrecy, services
from tracker.models import CivilianCount, HostilityReport
from tracker.templatetags.fragments import digest

pytestmark = pytest.mark.django_db
UTC = dt.UTC
# The window below runs 05:00–15:00 UTC on 5 May 2022 (08:00–18:00 in Kyiv).
OPENS, CLOSES = dt.datetime(2022, 5, 5, 5, tzinfo=UTC), dt.datetime(2022, 5, 5, 15, tzinfo=UTC)


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def uk(name, *args):
    with translation.override("uk"):
        return reverse(name, args=args)


def after_a_write(public, url, **headers):
    """
    The page once a write is on it: the first request after the write is served the
    page as it was and renders the new one once its response is closed (the test client
    closes it, as a WSGI server does after sending it); the next one gets it.
    """
    public.get(url, **headers)
    return public.get(url, **headers)


def text_of(response) -> str:
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def window(db):
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia")
    return factories.WindowFactory(corridor=corridor, starts_at=OPENS, ends_at=CLOSES)


def test_every_model_is_known_to_be_shown_on_a_public_page_or_not():
    """A new model must say whether its writes make the kept pages stale."""
    models = {
        model._meta.label
        for app in ("tracker", "corridors")
        for model in apps.get_app_config(app).get_models()
        if not hasattr(model, "instance_type")  # the audit history's own models
    }
    assert models == set(pagecache.SHOWN_MODELS) | set(pagecache.NOT_SHOWN)


class TestKept:
    def test_a_second_visitor_is_served_the_kept_page_without_a_query(self, public, window, django_assert_num_queries):
        first = public.get(en("tracker:overview"))
        assert first.status_code == 200
        with django_assert_num_queries(0):
            second = public.get(en("tracker:overview"))
        assert second.content == first.content
        assert second["ETag"] == first["ETag"]
        assert second["Cache-Control"] == "no-cache"
        assert "Cookie" in second["Vary"]

    def test_the_refresh_is_answered_304_while_nothing_changed(self, public, window):
        etag = public.get(en("tracker:overview_data"))["ETag"]
        response = public.get(en("tracker:overview_data"), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == etag

    def test_each_language_is_kept_apart(self, public, window):
        assert "Humanitarian corridors" in text_of(public.get(en("tracker:overview")))
        html = public.get(uk("tracker:overview")).content.decode()
        assert '<html lang="uk">' in html
        assert "Гуманітарні коридори" in html

    @time_machine.travel(OPENS - dt.timedelta(hours=1), tick=False)
    def test_nothing_is_kept_longer_than_the_refresh_interval(self, public, window, django_assert_num_queries):
        public.get(en("tracker:overview"))
        later = OPENS - dt.timedelta(hours=1) + dt.timedelta(seconds=pagecache.MAX_AGE - pagecache.RENEW_SECONDS - 1)
        with time_machine.travel(later, tick=False), django_assert_num_queries(0):
            public.get(en("tracker:overview"))
        with time_machine.travel(OPENS - dt.timedelta(hours=1) + dt.timedelta(seconds=pagecache.MAX_AGE), tick=False):
            assert "Data as of 5 May 2022, 07:01" in text_of(public.get(en("tracker:overview")))


class TestFreshAfterWrites:
    """
    A committed write is on the page as soon as it is rendered again, which the first
    request after the write does once its response is sent; a rolled-back write changes
    nothing.
    """

    def test_a_new_count_is_on_the_refresh_once_rendered_after_the_one_that_came_first(
        self, public, window, alice, django_capture_on_commit_callbacks
    ):
        old = public.get(en("tracker:overview_data"))
        site = factories.SiteFactory(name="Orikhiv")
        count = CivilianCount(
            site=site, source=factories.SourceFactory(), as_of=OPENS, count=777, qualifier="approximately"
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.figure_save(figure=count, user=alice)
        # At once, the page as it was (unchanged for this browser: 304); rendered after this response.
        assert public.get(en("tracker:overview_data"), HTTP_IF_NONE_MATCH=old["ETag"]).status_code == 304
        response = public.get(en("tracker:overview_data"), HTTP_IF_NONE_MATCH=old["ETag"])
        assert response.status_code == 200
        assert "about 777 people" in text_of(response)
        assert response["ETag"] != old["ETag"]

    def test_the_time_of_the_latest_figure_moves_on_with_a_new_one(
        self, public, window, alice, django_capture_on_commit_callbacks
    ):
        assert "No figures are recorded yet." in text_of(public.get(en("tracker:overview_data")))
        count = CivilianCount(
            site=factories.SiteFactory(), source=factories.SourceFactory(), as_of=OPENS, count=7, qualifier="exact"
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.figure_save(figure=count, user=alice)
        assert "Latest figure: 5 May 2022, 08:00 (UTC+3)" in text_of(after_a_write(public, en("tracker:overview_data")))

    def test_a_rolled_back_write_leaves_the_kept_page(
        self, public, window, alice, django_capture_on_commit_callbacks, django_assert_num_queries
    ):
        public.get(en("tracker:overview_data"))
        count = CivilianCount(
            site=factories.SiteFactory(), source=factories.SourceFactory(), as_of=OPENS, count=777, qualifier="exact"
        )
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
            services.figure_save(figure=count, user=alice)
            raise RuntimeError("the request fails after the save")
        with django_assert_num_queries(0):
            assert "777" not in text_of(public.get(en("tracker:overview_data")))

    def test_a_flag_the_engine_raises_is_on_the_refresh(
        self, public, window, alice, django_capture_on_commit_callbacks
    ):
        """The engine writes flags in bulk (no post_save): it says itself that the pages are stale."""
        assert "1 flag" not in text_of(public.get(en("tracker:overview_data")))
        report = HostilityReport(
            site=window.corridor.origin,
            kind="shelling",
            source=factories.SourceFactory(),
            started_at=OPENS + dt.timedelta(hours=2),
        )
        # The check runs (eagerly here, in a worker in production) once the report is committed.
        with django_capture_on_commit_callbacks(execute=True):
            services.hostility_report_save(report=report, user=alice)
        assert Flag.objects.filter(window=window, status=Flag.Status.OPEN).exists()
        assert "1 flag" in text_of(after_a_write(public, en("tracker:overview_data")))

    def test_a_flag_review_is_on_the_refresh(self, public, window, carol, django_capture_on_commit_callbacks):
        flag = factories.FlagFactory(window=window)
        with django_capture_on_commit_callbacks(execute=True):
            pagecache.public_data_changed()  # the factory's write, committed
        assert "1 flag" in text_of(public.get(en("tracker:overview_data")))
        with django_capture_on_commit_callbacks(execute=True):
            corridor_services.flag_review(flag=flag, user=carol, status=Flag.Status.DISMISSED, note="another road")
        assert "1 flag" in text_of(public.get(en("tracker:overview_data")))  # as it was, rendered after
        assert "1 flag" not in text_of(public.get(en("tracker:overview_data")))


class TestTime:
    """The overview says which window is open now: a kept page must not say so after it closed."""

    @pytest.mark.parametrize("name", ["tracker:overview", "tracker:overview_data"])
    def test_a_window_opening_and_closing_is_shown_at_once(self, public, window, name):
        with time_machine.travel(OPENS - dt.timedelta(seconds=30), tick=False):
            assert "Scheduled" in text_of(public.get(en(name)))
        with time_machine.travel(OPENS, tick=False):
            assert "Open now 10 h 0 min left" in text_of(public.get(en(name)))
        with time_machine.travel(CLOSES - dt.timedelta(seconds=1), tick=False):
            assert "Open now 0 min left" in text_of(public.get(en(name)))
        with time_machine.travel(CLOSES, tick=False):
            text = text_of(public.get(en(name)))
        assert "Open now" not in text
        assert "Closed" in text

    def test_the_corridor_page_too(self, public, window):
        url = en("corridors:corridor", window.corridor_id)
        with time_machine.travel(OPENS - dt.timedelta(seconds=30), tick=False):
            assert "Scheduled" in text_of(public.get(url))
        with time_machine.travel(OPENS, tick=False):
            assert "Open now" in text_of(public.get(url))


class TestOnlyForThePublic:
    """A logged-in person's page (their menu, exact positions) is never kept, nor served a kept one."""

    def shelter(self):
        return factories.SiteFactory(
            name="Shelter 7", kind="shelter", restricted=True, latitude=47.0980, longitude=37.6110
        )

    def tile_of(self, site) -> str:
        x, y = geo.tile_xy(site.latitude, site.longitude, 9)
        return en("tracker:map_tile", 9, int(x), int(y))

    def test_the_public_and_a_coordinator_each_get_their_own_positions(self, client, carol):
        url = self.tile_of(self.shelter())
        public_first = client.get(url).json()["sites"]
        assert (public_first[0]["lat"], public_first[0]["lon"]) == (47.1, 37.6)
        client.force_login(carol)
        exact = client.get(url)
        assert (exact.json()["sites"][0]["lat"], exact.json()["sites"][0]["lon"]) == (47.098, 37.611)
        assert exact["Cache-Control"] == "private, no-store"
        assert "Cookie" in exact["Vary"]
        client.logout()
        again = client.get(url)
        assert (again.json()["sites"][0]["lat"], again.json()["sites"][0]["lon"]) == (47.1, 37.6)

    def test_a_coordinator_first_keeps_nothing_for_the_public(self, client, carol, django_assert_num_queries):
        site = self.shelter()
        client.force_login(carol)
        assert "47.098, 37.611" in text_of(client.get(en("tracker:site", site.pk)))
        client.logout()
        public = client.get(en("tracker:site", site.pk))
        assert "47.098" not in public.content.decode()
        assert "47.1, 37.6" in text_of(public)
        with django_assert_num_queries(0):
            client.get(en("tracker:site", site.pk))  # the public one is kept now

    def test_the_menu_of_a_logged_in_person_is_not_kept(self, client, alice):
        client.force_login(alice)
        assert "My figures" in text_of(client.get(en("tracker:overview")))
        client.logout()
        text = text_of(client.get(en("tracker:overview")))
        assert "My figures" not in text
        assert "Staff login" in text

    def test_a_query_string_that_is_not_the_pages_own_is_neither_kept_nor_served_kept(self, public, window):
        tagged = public.get(en("tracker:overview") + "?utm_source=%22news%22").content.decode()
        assert "utm_source" in tagged  # the links to the page in the other language keep it
        plain = public.get(en("tracker:overview"))
        assert "utm_source" not in plain.content.decode()
        assert plain["Cache-Control"] == "no-cache"

    def test_a_pending_message_is_not_kept_for_others(self, public, window):
        public.cookies["messages"] = "anything"
        response = public.get(en("tracker:overview"))
        assert response["Cache-Control"] == "private, no-store"


class TestManyProcesses:
    """Each process keeps the pages it served in memory, and trusts the generation it read for a second."""

    def test_a_write_in_another_process_reaches_this_one_within_a_second(
        self, public, window, django_assert_num_queries
    ):
        read_at = OPENS - dt.timedelta(hours=1)
        url = en("tracker:overview_data")
        with time_machine.travel(read_at, tick=False):
            public.get(url)
            # Another process commits a count: the shared generation changes, this process's memory does not.
            factories.CivilianCountFactory(site=factories.SiteFactory(name="Orikhiv"), count=777)
            pagecache.cache.set(pagecache.GENERATION_KEY, "another process's")
            with django_assert_num_queries(0):
                assert "about 777 people" not in text_of(public.get(url))
        with time_machine.travel(read_at + dt.timedelta(seconds=pagecache.LOCAL_SECONDS), tick=False):
            assert "about 777 people" in text_of(after_a_write(public, url))

    def test_a_page_kept_by_another_process_is_served_from_the_shared_cache(
        self, public, window, django_assert_num_queries
    ):
        public.get(en("tracker:overview_data"))
        pagecache.local.pages.clear()  # as in another process, which never rendered it
        with django_assert_num_queries(0):
            assert public.get(en("tracker:overview_data")).status_code == 200
        assert len(pagecache.local.pages) == 1

    def test_a_process_keeps_only_the_pages_it_served_last(self, public, monkeypatch):
        monkeypatch.setattr(pagecache, "LOCAL_PAGES", 3)
        sites = [factories.SiteFactory() for _ in range(5)]
        for site in sites:
            public.get(en("tracker:site", site.pk))
        assert list(pagecache.local.pages) == [f"pages:site:{site.pk}:en:" for site in sites[2:]]


def rendered(response, name: str) -> int:
    """How many times the request rendered this template (an include of a kept part is not rendered)."""
    return [t.name for t in response.templates].count(name)


class TestParts:
    """
    A render after a write re-renders only the parts of the overview the write changed:
    each corridor's card, each site's row and each small table is kept under a key made
    of what it shows (tracker/templatetags/fragments.py).
    """

    @pytest.fixture
    def two_corridors(self, window):
        other = factories.WindowFactory(corridor=factories.CorridorFactory(name="Mariupol → Berdiansk"))
        return window, other

    @time_machine.travel(OPENS + dt.timedelta(hours=1), tick=False)
    def test_a_write_re_renders_only_the_parts_it_changed(self, public, two_corridors):
        first = public.get(en("tracker:overview_data"))
        assert rendered(first, "corridors/_overview_card.html") == 2
        factories.CivilianCountFactory(site=factories.SiteFactory(name="Orikhiv"), count=777)
        pagecache._new_generation()  # the count's commit
        # Served the page as it was; the test client records on it the templates of the
        # render that runs once its response is closed.
        second = public.get(en("tracker:overview_data"))
        assert "about 777 people" not in text_of(second)
        assert rendered(second, "corridors/_overview_card.html") == 0
        assert rendered(second, "tracker/_overview_site_row.html") == 1
        third = public.get(en("tracker:overview_data"))
        assert "about 777 people" in text_of(third)
        assert "Mariupol → Berdiansk" in text_of(third)

    @time_machine.travel(OPENS + dt.timedelta(hours=1), tick=False)
    def test_a_changed_corridor_is_rendered_again_and_only_it(self, public, two_corridors):
        window, _other = two_corridors
        public.get(en("tracker:overview_data"))
        factories.FlagFactory(window=window)
        pagecache._new_generation()
        response = public.get(en("tracker:overview_data"))  # as it was; rendered after (see above)
        assert rendered(response, "corridors/_overview_card.html") == 1
        assert "1 flag" in text_of(public.get(en("tracker:overview_data")))

    def test_the_time_left_moves_on_every_minute(self, public, window):
        for minutes, text in [(60, "Open now 9 h 0 min left"), (61, "Open now 8 h 59 min left")]:
            with time_machine.travel(OPENS + dt.timedelta(minutes=minutes), tick=False):
                pagecache._new_generation()
                assert text in text_of(public.get(en("tracker:overview_data")))

    @pytest.mark.parametrize(
        ("utc", "shown"),
        [
            # 23:50 in Kyiv on New Year's Eve: a day of this year is shown without its year.
            (dt.datetime(2022, 12, 31, 21, 50, tzinfo=UTC), "08:00–18:00 on 5 May UTC+3"),
            # Ten minutes after midnight in Kyiv (22:10 UTC): the same day is of last year.
            (dt.datetime(2022, 12, 31, 22, 10, tzinfo=UTC), "08:00–18:00 on 5 May 2022 UTC+3"),
        ],
    )
    def test_a_day_of_last_year_says_its_year_from_midnight_in_its_zone(self, public, window, utc, shown):
        with time_machine.travel(dt.datetime(2022, 12, 31, 21, 50, tzinfo=UTC), tick=False):
            public.get(en("tracker:overview_data"))  # kept, parts included
        with time_machine.travel(utc, tick=False):
            pagecache._new_generation()
            assert shown in text_of(public.get(en("tracker:overview_data")))

    def test_each_language_has_its_own_parts(self, public, window):
        assert "Closed" in text_of(public.get(en("tracker:overview_data")))
        assert "Закрите" in text_of(public.get(uk("tracker:overview_data")))

    def test_every_kept_part_reads_only_what_its_key_is_made_of(self):
        """
        A part is kept under the digest of the rows given to it: its template must get
        those and nothing else (`include … only`), or it could show something its key
        does not cover, and go on showing it after it changed.
        """
        templates = [p for d in settings.TEMPLATES[0]["DIRS"] for p in d.rglob("*.html")]
        parts = []
        for path in templates:
            for tag in re.findall(r"{% cache .*?%}.*?{% endcache %}", path.read_text(), flags=re.S):
                parts.append(tag)
                assert 'using="fragments"' in tag, (path, tag)
                body = re.sub(r"^{% cache .*?%}|{% endcache %}$", "", tag)
                assert re.fullmatch(r"{% include \"[^\"]+\"( with [^%]*)? only %}", body), (path, tag)
                assert "LANGUAGE_CODE calendar" in tag, (path, tag)
        assert len(parts) >= 4


class TestDigest:
    def test_equal_rows_read_twice_have_the_same_digest_and_a_change_gives_another(self, window):
        now = OPENS + dt.timedelta(hours=1)
        first = corridor_selectors.corridors_for_overview(now)
        assert digest(first[0]) == digest(corridor_selectors.corridors_for_overview(now)[0])
        window.corridor.origin.name = "Another name"
        window.corridor.origin.save()
        assert digest(first[0]) != digest(corridor_selectors.corridors_for_overview(now)[0])
        later = corridor_selectors.corridors_for_overview(now + dt.timedelta(minutes=1))
        assert digest(first[0]) != digest(later[0])  # a minute less left

    def test_a_query_set_not_read_yet_is_refused(self, window):
        with pytest.raises(TypeError):
            digest(HostilityReport.objects.all())


class TestRenderedAfterAWrite:
    """
    After a write no request waits for the page: each is served the page as it was, and
    the first one renders it again once its response is closed (a WSGI server closes it
    after sending it); the others, meanwhile, in any process, neither wait nor render (a
    news spike would otherwise pile up renders on every web process).
    """

    @staticmethod
    def serve(rf, render):
        with translation.override("en"):
            return pagecache.serve(rf.get("/en/"), "overview", render)

    @staticmethod
    def page(text, calls, *, changes_at=None):
        def render():
            calls.append(text)
            return pagecache.Rendered(HttpResponse(text), changes_at=changes_at)

        return render

    def test_the_page_as_it_was_at_once_and_the_new_one_rendered_after_the_response(self, rf):
        calls = []
        assert self.serve(rf, self.page("before", calls)).content == b"before"
        pagecache._new_generation()  # a write commits
        first = self.serve(rf, self.page("after", calls))
        assert first.content == b"before"
        meanwhile = [self.serve(rf, self.page("rendered again", calls)) for _ in range(3)]
        assert [r.content for r in meanwhile] == [b"before"] * 3
        for response in meanwhile:
            response.close()  # they did not claim the render
        assert calls == ["before"]
        first.close()  # sent: the server closes it
        assert calls == ["before", "after"]
        assert self.serve(rf, self.page("rendered again", calls)).content == b"after"
        assert calls == ["before", "after"]

    def test_a_burst_of_writes_is_rendered_once_per_render(self, rf):
        calls = []
        self.serve(rf, self.page("before", calls))
        pagecache._new_generation()
        first = self.serve(rf, self.page("after", calls))
        for _ in range(3):
            pagecache._new_generation()
            self.serve(rf, self.page("rendered again", calls)).close()
        first.close()  # reads the latest generation before the data
        assert self.serve(rf, self.page("rendered again", calls)).content == b"after"
        assert calls == ["before", "after"]

    def test_a_render_that_fails_is_logged_and_the_next_request_renders_it(self, rf, caplog):
        calls = []
        self.serve(rf, self.page("before", calls))
        pagecache._new_generation()

        def failing():
            raise RuntimeError("the database went away")

        first = self.serve(rf, failing)
        assert first.content == b"before"
        first.close()
        assert "The page pages:overview:en: could not be rendered again." in caplog.text
        second = self.serve(rf, self.page("after", calls))
        assert second.content == b"before"
        second.close()
        assert self.serve(rf, self.page("again", calls)).content == b"after"

    def test_a_page_that_is_gone_is_no_longer_served(self, rf):
        self.serve(rf, self.page("before", []))
        pagecache._new_generation()

        def gone():
            raise Http404

        first = self.serve(rf, gone)
        assert first.content == b"before"
        first.close()
        with pytest.raises(Http404):
            self.serve(rf, gone)

    def test_a_page_rendered_with_an_exact_position_is_not_kept(self, rf):
        calls = []
        self.serve(rf, self.page("before", calls))
        pagecache._new_generation()

        def exact():
            secrecy.shown_ids({1})  # a restricted site's exact position: the request's alone
            return pagecache.Rendered(HttpResponse("47.098, 37.611"))

        first = self.serve(rf, exact)
        first.close()
        assert self.serve(rf, self.page("public", calls)).content == b"public"
        assert all(b"47.098" not in kept.body for kept in pagecache.local.pages.values())

    def test_an_expired_page_is_never_served_while_another_renders(self, rf):
        calls = []
        with time_machine.travel(OPENS, tick=False):
            self.serve(rf, self.page("before", calls))
        pagecache._new_generation()
        pagecache.cache.add("pages:overview:en::rendering", 1)  # another request is rendering it
        with time_machine.travel(OPENS + dt.timedelta(seconds=pagecache.MAX_AGE), tick=False):
            assert self.serve(rf, self.page("after", calls)).content == b"after"

    def test_a_page_visited_in_its_last_seconds_is_renewed_after_the_response(self, rf, django_assert_num_queries):
        calls = []
        with time_machine.travel(OPENS, tick=False):
            self.serve(rf, self.page("first", calls))
        with time_machine.travel(
            OPENS + dt.timedelta(seconds=pagecache.MAX_AGE - pagecache.RENEW_SECONDS - 1), tick=False
        ):
            self.serve(rf, self.page("not yet", calls)).close()
        assert calls == ["first"]
        with time_machine.travel(OPENS + dt.timedelta(seconds=pagecache.MAX_AGE - pagecache.RENEW_SECONDS), tick=False):
            response = self.serve(rf, self.page("renewed", calls))
            assert response.content == b"first"
            meanwhile = self.serve(rf, self.page("renewed twice", calls))  # while the first renews it
            assert meanwhile.content == b"first"
            meanwhile.close()
            response.close()
        with time_machine.travel(OPENS + dt.timedelta(seconds=pagecache.MAX_AGE + 1), tick=False):
            assert self.serve(rf, self.page("not again", calls)).content == b"renewed"
        assert calls == ["first", "renewed"]

    def test_a_page_renewed_by_another_process_is_taken_from_the_shared_cache(self, rf):
        calls = []
        with time_machine.travel(OPENS, tick=False):
            self.serve(rf, self.page("first", calls))
            first = pagecache.local.pages["pages:overview:en:"]
        with time_machine.travel(OPENS + dt.timedelta(seconds=pagecache.MAX_AGE - 1), tick=False):
            self.serve(rf, self.page("renewed", calls)).close()
            pagecache.local.put("pages:overview:en:", first)  # as another process still has it
            response = self.serve(rf, self.page("renewed again", calls))
            response.close()
        assert response.content == b"renewed"
        assert calls == ["first", "renewed"]
        assert pagecache._claim("pages:overview:en:")  # nobody holds the render

    def test_a_page_that_changes_by_itself_before_then_is_not_renewed(self, rf):
        calls = []
        with time_machine.travel(OPENS, tick=False):
            self.serve(rf, self.page("first", calls, changes_at=OPENS + dt.timedelta(seconds=30)))
        with time_machine.travel(OPENS + dt.timedelta(seconds=29), tick=False):
            self.serve(rf, self.page("too early", calls)).close()
        assert calls == ["first"]
