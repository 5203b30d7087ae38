"""The corridor page, the departure and arrival forms, and the coordinators' flag review queue."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import translation

from corridors.models import Arrival, Departure, Flag
from tests import factories
from tests.scenarios import queries_for
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def text_of(response) -> str:
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def flagged_window(db):
    """The seed report's case: a ground assault at Azovstal, 10:00–12:00 local, during the 08:00–18:00 window."""
    azovstal = factories.SiteFactory(name="Azovstal", kind="shelter", restricted=True)
    corridor = factories.CorridorFactory(
        name="Azovstal → Zaporizhzhia",
        origin=azovstal,
        announced_by=factories.SourceFactory(name="Russian military officials"),
        ceasefire_announced=True,
    )
    window = factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 5, 5, tzinfo=UTC))
    report = factories.HostilityReportFactory(
        site=azovstal,
        kind=HostilityReport.Kind.GROUND_ASSAULT,
        started_at=dt.datetime(2022, 5, 5, 7, tzinfo=UTC),
        ended_at=dt.datetime(2022, 5, 5, 9, tzinfo=UTC),
        source=factories.SourceFactory(name="Azov regiment"),
    )
    flag = factories.FlagFactory(
        window=window,
        hostility=report,
        overlap_start=report.started_at,
        overlap_end=report.ended_at,
        raised_at=dt.datetime(2022, 5, 5, 9, 1, tzinfo=UTC),
    )
    return flag


class TestCorridorPage:
    def test_each_flag_is_explained_in_words(self, public, flagged_window):
        text = text_of(public.get(en("corridors:corridor", flagged_window.window.corridor_id)))
        assert (
            "Ground assault at Azovstal reported by Azov regiment, 10:00–12:00 on 5 May 2022, "
            "during window 08:00–18:00 on 5 May 2022: overlap certain (both times exact) ." in text
        )
        assert "Open: awaiting review" in text

    def test_the_certainty_of_an_overlap_does_not_read_as_the_reports_verification(self, public, flagged_window):
        text = text_of(public.get(en("corridors:corridor", flagged_window.window.corridor_id)))
        assert "confirmed" not in text.lower()
        assert "overlap certain (both times exact)" in text
        assert "Report: Unverified" in text
        assert text.count("What is a flag?") == 1

    def test_it_shows_path_announcement_and_ceasefire_claim(self, public, flagged_window):
        corridor = flagged_window.window.corridor
        text = text_of(public.get(en("corridors:corridor", corridor.pk)))
        assert f"Azovstal {corridor.destination.name}" in text
        assert (
            "A ceasefire was announced for its windows — a claim by Russian military officials, not a guarantee."
            in text
        )

    def test_the_timeline_draws_the_overlap_over_the_window(self, public, flagged_window):
        html = public.get(en("corridors:corridor", flagged_window.window.corridor_id)).content.decode()
        # The axis is the local day 00:00–24:00: 08:00–18:00 is 33.33–75 %, the overlap 10:00–12:00 41.67–50 %.
        assert 'class="window-bar" x="33.33%" y="1" width="41.67%"' in html
        assert 'class="overlap confirmed review-open" x="41.67%"' in html
        assert 'width="8.33%"' in html

    def test_a_dismissed_flag_shows_its_reason_and_a_withdrawn_one_is_set_apart(self, public, flagged_window):
        flagged_window.status, flagged_window.review_note = Flag.Status.DISMISSED, "It was another road."
        flagged_window.save()
        factories.FlagFactory(window=flagged_window.window, status=Flag.Status.WITHDRAWN)
        response = public.get(en("corridors:corridor", flagged_window.window.corridor_id))
        text = text_of(response)
        assert "Dismissed" in text and "It was another road." in text
        assert "1 withdrawn flag" in text
        assert 'class="badge flag"' not in response.content.decode()


class TestFlagQueue:
    def test_only_coordinators_may_review(self, login, alice, flagged_window):
        client = login(alice)
        assert client.get(en("corridors:flag_queue")).status_code == 403
        response = client.post(en("corridors:flag_review", flagged_window.pk), {"status": "dismissed", "note": "x"})
        assert response.status_code == 403
        flagged_window.refresh_from_db()
        assert flagged_window.status == Flag.Status.OPEN

    def test_it_lists_open_flags_oldest_first(self, login, carol, flagged_window):
        newer = factories.FlagFactory(raised_at=dt.datetime(2022, 5, 6, tzinfo=UTC))
        factories.FlagFactory(status=Flag.Status.DISMISSED, review_note="no")
        flags = list(login(carol).get(en("corridors:flag_queue")).context["flags"])
        assert flags == [flagged_window, newer]

    def test_a_coordinator_dismisses_a_flag_with_a_reason(self, login, carol, flagged_window):
        response = login(carol).post(
            en("corridors:flag_review", flagged_window.pk), {"status": "dismissed", "note": "Another road."}
        )
        assert response.status_code == 302
        flagged_window.refresh_from_db()
        assert (flagged_window.status, flagged_window.review_note, flagged_window.reviewed_by) == (
            "dismissed",
            "Another road.",
            carol,
        )
        assert flagged_window.history.first().history_user == carol

    def test_dismissing_without_a_reason_is_refused_and_nothing_changes(self, login, carol, flagged_window):
        response = login(carol).post(
            en("corridors:flag_review", flagged_window.pk), {"status": "dismissed", "note": " "}
        )
        assert response.status_code == 400
        assert "Say why the flag is dismissed." in response.content.decode()
        flagged_window.refresh_from_db()
        assert flagged_window.status == Flag.Status.OPEN

    def test_acknowledging_keeps_the_note_as_typed(self, login, carol, flagged_window):
        login(carol).post(en("corridors:flag_review", flagged_window.pk), {"status": "acknowledged", "note": "On it."})
        flagged_window.refresh_from_db()
        assert (flagged_window.status, flagged_window.review_note) == ("acknowledged", "On it.")

    def test_queue_query_count_does_not_grow(self, login, carol, flagged_window):
        client = login(carol)
        few = queries_for(client, en("corridors:flag_queue"))
        for _ in range(5):
            factories.FlagFactory()
        assert queries_for(client, en("corridors:flag_queue")) == few


class TestMovementForms:
    def test_a_reporter_adds_a_departure_linked_to_a_window(self, login, alice, flagged_window):
        window = flagged_window.window
        response = login(alice).post(
            en("corridors:departure_new"),
            {
                "origin": window.corridor.origin_id,
                "window": window.pk,
                "departed_at": "2022-05-05T09:00",
                "count": "100",
                "qualifier": "at_least",
                "source": factories.SourceFactory().pk,
            },
        )
        assert response.status_code == 302
        departure = Departure.objects.get()
        assert departure.corridor == window.corridor  # taken from the window by the model's rules
        assert departure.departed_at == dt.datetime(2022, 5, 5, 6, tzinfo=UTC)

    def test_an_arrival_is_read_in_the_destinations_local_time(self, login, alice, db):
        origin = factories.SiteFactory()
        destination = factories.SiteFactory(timezone="Europe/Warsaw")
        response = login(alice).post(
            en("corridors:arrival_new"),
            {
                "origin": origin.pk,
                "destination": destination.pk,
                "arrived_at": "2022-05-05T18:00",
                "count": "41",
                "qualifier": "exact",
                "source": factories.SourceFactory().pk,
            },
        )
        assert response.status_code == 302
        assert Arrival.objects.get().arrived_at == dt.datetime(2022, 5, 5, 16, tzinfo=UTC)

    def test_a_departure_without_a_count_comes_back_with_what_was_typed(self, login, alice, db):
        origin = factories.SiteFactory()
        response = login(alice).post(
            en("corridors:departure_new"),
            {"origin": origin.pk, "departed_at": "2022-05-05T09:00", "count": "", "qualifier": "exact"},
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert 'value="2022-05-05T09:00"' in html
        assert f'<option value="{origin.pk}" selected>' in html
        assert not Departure.objects.exists()
