"""The Atom feeds: every flag, one corridor's flags, one site's hostility reports; read back with feedparser."""

from __future__ import annotations

import datetime as dt

import feedparser
import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from corridors import services
from corridors.models import Flag
from tests import factories
from tests.scenarios import queries_for
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def url(language, name, *args):
    with translation.override(language):
        return reverse(name, args=args)


def feed(client, address):
    response = client.get(address)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    return parsed


@pytest.fixture
def flag(db):
    """A ground assault at Azovstal (a restricted shelter), 10:00–12:00 Kyiv time, inside the 08:00–18:00 window."""
    azovstal = factories.SiteFactory(
        name="Azovstal", kind="shelter", restricted=True, latitude=47.0987, longitude=37.5936
    )
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal)
    window = factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 5, 5, tzinfo=UTC))
    report = factories.HostilityReportFactory(
        site=azovstal,
        kind=HostilityReport.Kind.GROUND_ASSAULT,
        started_at=dt.datetime(2022, 5, 5, 7, tzinfo=UTC),
        ended_at=dt.datetime(2022, 5, 5, 9, tzinfo=UTC),
        source=factories.SourceFactory(name="Azov regiment"),
    )
    return factories.FlagFactory(
        window=window, hostility=report, overlap_start=report.started_at, overlap_end=report.ended_at
    )


class TestFlagFeeds:
    def test_an_entry_says_the_flag_sentence_with_local_times_and_offsets(self, public, flag):
        parsed = feed(public, url("en", "corridors:flags_feed"))
        [entry] = parsed.entries
        assert entry.title == (
            "Overlap certain (both times exact), open: Ground assault at Azovstal, "
            "window 08:00–18:00 on 5 May 2022 (Azovstal → Zaporizhzhia)"
        )
        text = entry.summary
        assert "Ground assault at Azovstal reported by Azov regiment" in text
        assert "during window 08:00–18:00 on 5 May 2022: <strong>overlap certain (both times exact)</strong>" in text
        assert "Open: awaiting review" in text
        assert "Overlap: from 5 May 2022, 10:00 (UTC+3) to 5 May 2022, 12:00 (UTC+3), local time." in text
        assert entry.id == f"tag:evacuation-tracker,2022:flag/{flag.pk}"
        assert entry.link.endswith(f"/en/corridors/{flag.window.corridor_id}/#window-{flag.window_id}")
        assert {tag.term for tag in entry.tags} == {"confirmed", "open"}
        assert parsed.feed.language == "en"

    def test_the_ukrainian_feed_says_it_in_ukrainian_with_the_same_entry_ids(self, public, flag):
        english = feed(public, url("en", "corridors:flags_feed"))
        ukrainian = feed(public, url("uk", "corridors:flags_feed"))
        [entry] = ukrainian.entries
        assert ukrainian.feed.language == "uk"
        assert "Наземний штурм" in entry.title, entry.title
        assert "UTC+3" in entry.summary
        assert entry.link.endswith(f"/uk/corridors/{flag.window.corridor_id}/#window-{flag.window_id}")
        assert entry.id == english.entries[0].id

    def test_a_review_and_a_withdrawal_update_the_entry_in_place(self, public, flag, carol):
        first = feed(public, url("en", "corridors:flags_feed")).entries[0]
        with time_machine.travel(dt.datetime(2030, 1, 1, tzinfo=UTC), tick=False):
            services.flag_review(flag=flag, user=carol, status=Flag.Status.ACKNOWLEDGED, note="on it")
        reviewed = feed(public, url("en", "corridors:flags_feed")).entries[0]
        assert reviewed.id == first.id
        assert reviewed.updated_parsed > first.updated_parsed
        assert reviewed.published == first.published
        assert "Acknowledged" in reviewed.summary and "by Helping Hands" in reviewed.summary  # her organisation
        assert "carol" not in reviewed.summary  # a public feed never names the person
        Flag.objects.filter(pk=flag.pk).update(
            status=Flag.Status.WITHDRAWN, updated_at=dt.datetime(2031, 1, 1, tzinfo=UTC)
        )
        withdrawn = feed(public, url("en", "corridors:flags_feed")).entries[0]
        assert withdrawn.id == first.id
        assert withdrawn.title.startswith("Overlap certain (both times exact), withdrawn:")
        assert "Withdrawn" in withdrawn.summary

    def test_a_corridor_feed_holds_only_its_own_flags(self, public, flag):
        other = factories.FlagFactory()
        corridor_id = flag.window.corridor_id
        parsed = feed(public, url("en", "corridors:corridor_feed", corridor_id))
        assert [e.id for e in parsed.entries] == [f"tag:evacuation-tracker,2022:flag/{flag.pk}"]
        assert parsed.feed.title == "Flags on Azovstal → Zaporizhzhia"
        every = feed(public, url("en", "corridors:flags_feed"))
        assert {e.id for e in every.entries} == {f"tag:evacuation-tracker,2022:flag/{f.pk}" for f in (flag, other)}

    def test_an_unknown_corridor_has_no_feed(self, public):
        assert public.get(url("en", "corridors:corridor_feed", 999999)).status_code == 404

    def test_the_feeds_never_show_a_position(self, public, flag):
        body = public.get(url("en", "corridors:flags_feed")).content.decode()
        assert "47.09" not in body and "37.59" not in body
        assert "georss" not in body

    def test_the_feed_takes_the_same_queries_however_many_flags(self, public, flag):
        few = queries_for(public, url("en", "corridors:flags_feed"))
        factories.FlagFactory.create_batch(5)
        assert queries_for(public, url("en", "corridors:flags_feed")) == few

    def test_the_pages_link_to_their_feeds(self, public, flag):
        corridor_id = flag.window.corridor_id
        overview = public.get(url("en", "tracker:overview")).content.decode()
        feed_link = 'rel="alternate" type="application/atom+xml" title="Flags: corridor windows broken by hostilities"'
        assert f'{feed_link} href="{url("en", "corridors:flags_feed")}"' in overview
        page = public.get(url("uk", "corridors:corridor", corridor_id)).content.decode()
        assert 'type="application/atom+xml"' in page and url("uk", "corridors:corridor_feed", corridor_id) in page
        site = public.get(url("en", "tracker:site", flag.hostility.site_id)).content.decode()
        assert url("en", "tracker:site_feed", flag.hostility.site_id) in site


class TestSiteFeed:
    def test_it_lists_the_reports_at_the_site_and_inside_it_in_both_languages(self, public, flag):
        azovstal = flag.hostility.site
        mariupol = factories.SiteFactory(name="Mariupol")
        azovstal.parent = mariupol
        azovstal.save()
        factories.HostilityReportFactory(site=factories.SiteFactory(name="Odesa"))
        parsed = feed(public, url("en", "tracker:site_feed", mariupol.pk))
        [entry] = parsed.entries
        assert entry.title == "Ground assault at Azovstal"
        assert "from 10:00 to 12:00 on 5 May 2022" in entry.summary or "10:00–12:00 on 5 May 2022" in entry.summary
        assert "(UTC+3)" in entry.summary and "Azov regiment" in entry.summary
        assert entry.id == f"tag:evacuation-tracker,2022:hostility/{flag.hostility_id}"
        ukrainian = feed(public, url("uk", "tracker:site_feed", mariupol.pk))
        assert ukrainian.entries[0].title.startswith("Наземний штурм")

    def test_an_unknown_site_has_no_feed(self, public):
        assert public.get(url("en", "tracker:site_feed", 999999)).status_code == 404
