"""
The quick forms as a reporter on a phone uses them: the window open now is chosen for
them, the site and source they typed last in any form are the next form's defaults,
and saving a hostility report says which windows it flags (or, while a worker has yet
to check it, says that honestly).
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from corridors import tasks
from tests import factories
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)  # 12:00 in Kyiv, inside the 6 May window


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def en(name):
    with translation.override("en"):
        return reverse(name)


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal steel plant")


@pytest.fixture
def corridor(azovstal):
    return factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal)


@pytest.fixture
def windows(corridor):
    """5 May (closed), 6 May (open at NOW) and 7 May (scheduled), 08:00–18:00 local."""
    return [
        factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, day, 5, tzinfo=UTC))
        for day in (5, 6, 7)
    ]


class TestWindowPicker:
    def test_the_window_open_now_is_chosen_and_first_and_one_not_yet_open_is_not_offered(self, login, alice, windows):
        form = login(alice).get(en("corridors:departure_new")).context["form"]
        choices = [value for value, _label in form.fields["window"].choices if value]
        assert [int(str(value)) for value in choices] == [windows[1].pk, windows[0].pk]
        assert form["window"].value() == windows[1].pk

    def test_with_two_open_the_one_at_the_remembered_origin_is_chosen(self, login, alice, windows, azovstal):
        elsewhere = factories.WindowFactory(starts_at=dt.datetime(2022, 5, 6, 6, tzinfo=UTC))
        factories.DepartureFactory(origin=azovstal, created_by=alice, organisation=alice.organisation)
        form = login(alice).get(en("corridors:departure_new")).context["form"]
        assert form["window"].value() == windows[1].pk
        assert elsewhere.pk != windows[1].pk

    def test_with_two_open_and_none_at_the_remembered_origin_none_is_guessed(self, login, alice, windows):
        factories.WindowFactory(starts_at=dt.datetime(2022, 5, 6, 6, tzinfo=UTC))
        form = login(alice).get(en("corridors:departure_new")).context["form"]
        assert form["window"].value() is None

    def test_with_none_open_none_is_chosen(self, login, alice, corridor):
        factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 4, 5, tzinfo=UTC))
        form = login(alice).get(en("corridors:departure_new")).context["form"]
        assert form["window"].value() is None


class TestRemembered:
    def test_the_site_and_source_of_a_count_are_the_next_reports_and_departures(self, login, alice, azovstal):
        mayor = factories.SourceFactory(name="Mayor of Mariupol")
        older = factories.HostilityReportFactory(created_by=alice, organisation=alice.organisation)  # elsewhere
        HostilityReport.objects.filter(pk=older.pk).update(created_at=NOW - dt.timedelta(hours=1))
        factories.CivilianCountFactory(site=azovstal, source=mayor, created_by=alice, organisation=alice.organisation)
        client = login(alice)
        report = client.get(en("tracker:hostility_new")).context["form"]
        assert (report["site"].value(), report["source"].value()) == (azovstal.pk, mayor.pk)
        departure = client.get(en("corridors:departure_new")).context["form"]
        assert (departure["origin"].value(), departure["source"].value()) == (azovstal.pk, mayor.pk)

    def test_a_departures_origin_is_the_next_counts_site(self, login, alice, azovstal):
        factories.DepartureFactory(origin=azovstal, created_by=alice, organisation=alice.organisation)
        assert login(alice).get(en("tracker:count_new")).context["form"]["site"].value() == azovstal.pk

    def test_another_persons_figures_are_not_remembered_for_me(self, login, alice, bob, azovstal):
        factories.CivilianCountFactory(site=azovstal, created_by=bob, organisation=bob.organisation)
        assert login(alice).get(en("tracker:count_new")).context["form"]["site"].value() is None


@pytest.mark.django_db(transaction=True)
class TestReportSaved:
    """Real commits: the check queued after the report's commit runs then (eagerly, as in the embedded mode)."""

    def post(self, client, site, source, hour):
        return client.post(
            en("tracker:hostility_new"),
            {
                "site": site.pk,
                "kind": "shelling",
                "started_at": f"2022-05-05T{hour:02d}:00",
                "time_precision": "exact",
                "source": source.pk,
            },
            follow=True,
        )

    def test_it_says_which_windows_the_report_flags(self, login, alice, windows, azovstal):
        response = self.post(login(alice), azovstal, factories.SourceFactory(), 10)
        assert HostilityReport.objects.count() == 1
        assert (
            "Hostility report saved. It flags 1 corridor window: Azovstal → Zaporizhzhia, 08:00–18:00 on 5 May."
            in response.content.decode()
        )

    def test_it_says_when_the_report_flags_none(self, login, alice, windows, azovstal):
        response = self.post(login(alice), azovstal, factories.SourceFactory(), 20)
        assert "It falls in no corridor window: it flags none." in response.content.decode()

    def test_while_a_worker_has_yet_to_check_it_it_says_so(self, login, alice, windows, azovstal, monkeypatch):
        # Production: the check is queued for a worker, and has not run when the page answers.
        monkeypatch.setattr(tasks.check_report, "delay_on_commit", lambda *args, **kwargs: None)
        response = self.post(login(alice), azovstal, factories.SourceFactory(), 10)
        html = response.content.decode()
        assert "It is being checked against the corridor windows now" in html
        assert "It flags" not in html and "flags none" not in html
