"""The ceasefire record of an announcing source: its page (both languages) and its API resource."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from django.urls import reverse
from django.utils import translation

from corridors import services
from corridors.models import CorridorWindow, Flag
from corridors.record import RECORD_ROWS, source_record
from tests import factories
from tests.corridors import ceasefire_data
from tests.scenarios import queries_for
from tracker.models import HostilityReport, Source, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def url(language, name, *args):
    with translation.override(language):
        return reverse(name, args=args)


def text_of(response) -> str:
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def case(carol):
    return ceasefire_data.build(carol)


def counted_in_the_test(corridor_ids):
    """The record's numbers, counted here window by window from the flags, the way the issue defines them."""
    windows = CorridorWindow.objects.filter(corridor_id__in=corridor_ids, cancelled=False)
    counting = Flag.objects.filter(window__in=windows, status__in=[Flag.Status.OPEN, Flag.Status.ACKNOWLEDGED])
    confirmed = set(counting.filter(certainty="confirmed").values_list("window_id", flat=True))
    verified = set(
        counting.filter(certainty="confirmed", hostility__verification="verified").values_list("window_id", flat=True)
    )
    possible = set(counting.filter(certainty="possible").values_list("window_id", flat=True)) - confirmed
    reports = HostilityReport.objects.filter(flags__in=counting).distinct()
    by_verification = {}
    for report in reports:
        by_verification[report.verification] = by_verification.get(report.verification, 0) + 1
    return {
        "windows": windows.count(),
        "confirmed": len(confirmed),
        "verified": len(verified),
        "possible": len(possible),
        "by_verification": by_verification,
    }


class TestTheNumbers:
    def test_they_agree_with_the_case_and_with_a_count_made_here(self, case):
        record = source_record(case.corridor.announced_by_id, now=ceasefire_data.day(20))
        totals = record.ceasefire_totals()
        expected = counted_in_the_test([case.corridor.pk])
        assert (totals.windows, totals.confirmed, totals.confirmed_by_verified, totals.possible_only) == (4, 2, 1, 1)
        assert totals.windows == expected["windows"]
        assert totals.confirmed == expected["confirmed"]
        assert totals.confirmed_by_verified == expected["verified"]
        assert totals.possible_only == expected["possible"]
        assert totals.by_verification == expected["by_verification"] == {"verified": 1, "unverified": 2, "disputed": 1}
        assert totals.by_source == {"Mariupol city council": 2, "Azov regiment": 1, "Local channel": 1}
        assert (totals.cancelled, totals.dismissed_only, totals.none) == (1, 1, 1)
        outcomes = [w.outcome for w in record.with_ceasefire[0].windows]
        assert outcomes[:4] == ["confirmed", "possible", "confirmed", "none"]

    def test_a_corridor_without_a_ceasefire_claim_is_counted_apart(self, case):
        record = source_record(case.corridor.announced_by_id, now=ceasefire_data.day(20))
        assert [c.corridor for c in record.without_ceasefire] == [case.other]
        assert record.other_totals().windows == 1
        assert record.other_totals().reports == 0


class TestThePage:
    def test_it_words_the_totals_as_the_issue_does(self, public, case):
        text = text_of(public.get(url("en", "corridors:source_record", case.corridor.announced_by_id)))
        assert (
            "4 windows announced with a ceasefire; hostilities with an exact-time overlap were reported during "
            "2 of them (1 by a verified report); 1 more only possibly." in text
        )
        assert "1 window announced without a ceasefire claim" in text
        assert "1 cancelled window is not counted." in text
        assert "violat" not in text.lower()

    def test_it_says_why_a_dismissed_flag_does_not_count_and_names_no_person(self, public, case, carol):
        text = text_of(public.get(url("en", "corridors:source_record", case.corridor.announced_by_id)))
        assert "so not counted. Reason: “The strike hit a village 40 km away, not on the route.”" in text
        assert f"Acknowledged by {carol.organisation.name}" in text
        assert carol.username not in text
        assert "Time precision: Hour known. Report: Unverified." in text
        assert "Time precision: Day known. Report: Disputed." in text

    def test_it_never_shows_a_restricted_sites_exact_position(self, public, case):
        body = public.get(url("en", "corridors:source_record", case.corridor.announced_by_id)).content.decode()
        assert "47.0987" not in body and "37.5937" not in body
        assert "Azovstal" in body

    def test_it_reads_in_ukrainian(self, public, case):
        text = text_of(public.get(url("uk", "corridors:source_record", case.corridor.announced_by_id)))
        assert "4 вікна оголошено з припиненням вогню" in text
        assert "ще 1 — лише можливо" in text
        assert "Reason" not in text

    def test_corridor_and_overview_pages_link_to_it(self, public, case):
        record = url("en", "corridors:source_record", case.corridor.announced_by_id)
        assert record in public.get(url("en", "corridors:corridor", case.corridor.pk)).content.decode()
        assert record in public.get(url("en", "tracker:overview")).content.decode()

    def test_a_review_is_on_the_kept_page_once_rendered(self, public, case, carol, django_capture_on_commit_callbacks):
        page = url("en", "corridors:source_record", case.corridor.announced_by_id)
        assert "Not reviewed yet." in text_of(public.get(page))
        flag = Flag.objects.get(hostility=case.reports["shelling"])
        with django_capture_on_commit_callbacks(execute=True):
            services.flag_review(flag=flag, user=carol, status=Flag.Status.DISMISSED, note="Not on the route.")
        public.get(page)  # served as it was, and renders the new one once sent (tracker/pagecache.py)
        text = text_of(public.get(page))
        assert "Reason: “Not on the route.”" in text
        assert "only possibly" in text and "0 more only possibly" in text

    def test_an_unknown_source_is_a_404(self, public, db):
        assert public.get(url("en", "corridors:source_record", 999999)).status_code == 404


class TestTheApi:
    def test_it_gives_the_same_numbers_and_every_report(self, public, case):
        data = public.get(f"/api/v1/sources/{case.corridor.announced_by_id}/record/").json()
        totals = data["with_ceasefire"]
        assert totals["windows"] == 4
        assert totals["with_exact_time_overlap"] == 2
        assert totals["with_exact_time_overlap_by_verified_report"] == 1
        assert totals["with_possible_overlap_only"] == 1
        assert totals["reports_by_verification"] == {"verified": 1, "unverified": 2, "disputed": 1}
        corridor = next(c for c in data["corridors"] if c["id"] == case.corridor.pk)
        first, second, _third, fourth, fifth = corridor["windows"]
        assert first["outcome"] == "confirmed"
        assert first["starts_at_local"] == "2022-05-05T08:00:00+03:00"
        assert first["reports"][0]["report"]["source"]["name"] == "Azov regiment"
        assert first["reports"][0]["review"]["by_organisation"] == case.corridor.organisation.name
        assert second["reports"][0]["report"]["time_precision"] == "hour"
        assert fourth["outcome"] == "none"
        assert fourth["dismissed"][0]["review"]["note"].startswith("The strike hit a village")
        assert fifth["state"] == "cancelled" and fifth["outcome"] is None
        assert "violat" not in str(data).lower()

    def test_an_unknown_source_is_a_404(self, public, db):
        assert public.get("/api/v1/sources/999999/record/").status_code == 404


def generate(source, *, corridors, windows_per_corridor, seed=1):
    """Many corridors and windows, with reports and flags of every kind, written in bulk."""
    rng = random.Random(seed)
    reporters = [factories.SourceFactory(name=f"Reporter {i}") for i in range(5)]
    site = factories.SiteFactory(name="Generated city")
    start = dt.datetime(2022, 3, 1, 5, tzinfo=UTC)
    windows = []
    for c in range(corridors):
        corridor = factories.CorridorFactory(
            name=f"Generated {c}", origin=site, announced_by=source, ceasefire_announced=c % 4 != 3
        )
        windows += [
            CorridorWindow(
                corridor=corridor,
                starts_at=start + dt.timedelta(days=i),
                ends_at=start + dt.timedelta(days=i, hours=10),
                cancelled=rng.random() < 0.05,
            )
            for i in range(windows_per_corridor)
        ]
    windows = CorridorWindow.objects.bulk_create(windows)
    reports = HostilityReport.objects.bulk_create(
        HostilityReport(
            site=site,
            kind="shelling",
            started_at=start,
            coverage_start=start,
            source=rng.choice(reporters),
            verification=rng.choice([Verification.UNVERIFIED, Verification.VERIFIED, Verification.DISPUTED]),
        )
        for _ in range(50)
    )
    flags = []
    for window in windows:
        if window.cancelled:
            continue
        for report in rng.sample(reports, rng.choice([0, 0, 1, 2])):
            status = rng.choice(["open", "open", "acknowledged", "dismissed", "withdrawn"])
            flags.append(
                Flag(
                    window=window,
                    hostility=report,
                    overlap_start=window.starts_at,
                    overlap_end=window.starts_at,
                    certainty=rng.choice(["confirmed", "possible"]),
                    status=status,
                    review_note="Another place." if status == "dismissed" else "",
                    raised_at=window.starts_at,
                )
            )
    Flag.objects.bulk_create(flags)


class TestAtScale:
    def test_its_queries_do_not_grow_with_thousands_of_windows(self, public, db):
        small = factories.SourceFactory(name="Small announcer")
        large = factories.SourceFactory(name="Large announcer")
        generate(small, corridors=2, windows_per_corridor=5, seed=2)
        generate(large, corridors=8, windows_per_corridor=400, seed=3)
        assert CorridorWindow.objects.filter(corridor__announced_by=large).count() == 3200
        for name in ("corridors:source_record",):
            assert queries_for(public, url("en", name, small.pk)) == queries_for(public, url("en", name, large.pk))
        assert queries_for(public, f"/api/v1/sources/{small.pk}/record/") == queries_for(
            public, f"/api/v1/sources/{large.pk}/record/"
        )
        record = source_record(large.pk, now=dt.datetime(2026, 1, 1, tzinfo=UTC))
        totals = record.ceasefire_totals()
        expected = counted_in_the_test([c.corridor.pk for c in record.with_ceasefire])
        assert totals.windows == expected["windows"]
        assert totals.confirmed == expected["confirmed"] > 0
        assert totals.confirmed_by_verified == expected["verified"] > 0
        assert totals.possible_only == expected["possible"] > 0
        assert totals.by_verification == expected["by_verification"]
        assert Source.objects.filter(pk=large.pk).exists()

    def test_its_page_is_bounded_and_its_pages_account_for_every_window(self, public, db):
        small = factories.SourceFactory(name="Small announcer")
        large = factories.SourceFactory(name="Large announcer")
        generate(small, corridors=2, windows_per_corridor=5, seed=2)
        generate(large, corridors=8, windows_per_corridor=400, seed=3)
        windows = CorridorWindow.objects.filter(corridor__announced_by=large)
        reported = set(
            Flag.objects.filter(window__in=windows).exclude(status="withdrawn").values_list("window_id", flat=True)
        )
        page = url("en", "corridors:source_record", large.pk)
        queries = queries_for(public, url("en", "corridors:source_record", small.pk))
        # Every window is on one page: a report's window in a row of its own, the others counted in a folded line.
        listed, folded, number, pages = [], 0, 1, 1
        while number <= pages:
            address = page if number == 1 else f"{page}?page={number}"
            assert queries_for(public, address) == queries  # the first request for each page renders it
            body = public.get(address).content.decode()
            pages = int(re.search(r"Page 1 of (\d+)", body).group(1)) if number == 1 else pages
            number += 1
            rows = re.findall(r'id="window-(\d+)"', body)
            counts = [int(n) for n in re.findall(r'data-windows="(\d+)"', body)]
            assert len(rows) + len(counts) <= RECORD_ROWS
            assert len(body.encode()) < 200_000
            listed += [int(pk) for pk in rows]
            folded += sum(counts)
        assert sorted(listed) == sorted(reported)  # no window is open in 2026: only reported ones are listed
        assert len(listed) + folded == windows.count() == 3200
        assert pages > 1
        assert public.get(f"{page}?page={pages + 1}").status_code == 404
        assert public.get(f"{page}?page=0").status_code == 404
        # The totals on the page are over every window, as counted here.
        expected = counted_in_the_test(
            list(windows.filter(corridor__ceasefire_announced=True).values_list("corridor_id", flat=True).distinct())
        )
        text = text_of(public.get(f"{page}?page={pages}"))
        assert (
            f"{expected['windows']} windows announced with a ceasefire; hostilities with an exact-time overlap were "
            f"reported during {expected['confirmed']} of them ({expected['verified']} by verified reports); "
            f"{expected['possible']} more only possibly." in text
        )
        ukrainian = text_of(public.get(url("uk", "corridors:source_record", large.pk)))
        assert f"Сторінка 1 з {pages}" in ukrainian and "Підсумки — за всіма вікнами." in ukrainian
        assert re.search(rf"{expected['windows']} вік\w+ оголошено з припиненням вогню", ukrainian)
        last = text_of(public.get(url("uk", "corridors:source_record", large.pk) + f"?page={pages}"))
        assert re.search(r"\d+ вік\w+ .*Від .* до .*\.", last)  # the last corridor's folded line
