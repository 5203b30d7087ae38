"""Staff pages: login, "my figures", and the quick forms for a count and a hostility report."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from tests import factories
from tests.scenarios import queries_for
from tracker.models import CivilianCount, HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


class TestLogin:
    def test_staff_pages_send_the_public_to_the_login_page(self, public):
        response = public.get(en("tracker:count_new"))
        assert response.status_code == 302
        assert response["Location"] == f"{en('tracker:login')}?next={en('tracker:count_new')}"

    def test_a_reporter_logs_in_and_lands_on_their_figures(self, public, alice):
        response = public.post(
            en("tracker:login"), {"username": "alice", "password": factories.PASSWORD, "next": ""}, follow=True
        )
        assert response.redirect_chain[-1][0] == en("tracker:my_figures")
        assert "My figures" in response.content.decode()

    def test_a_wrong_password_is_refused_and_the_name_kept(self, public, alice):
        response = public.post(en("tracker:login"), {"username": "alice", "password": "nope"})
        html = response.content.decode()
        assert "do not match" in html
        assert 'value="alice"' in html


class TestCountForm:
    def test_the_form_defaults_to_now_and_the_last_site_and_source(self, login, alice):
        site, source = factories.SiteFactory(name="Shelter 7"), factories.SourceFactory(name="Field team A")
        factories.CivilianCountFactory(site=site, source=source, created_by=alice, organisation=alice.organisation)
        with time_machine.travel(dt.datetime(2022, 5, 6, 9, 30, tzinfo=UTC), tick=False):
            form = login(alice).get(en("tracker:count_new")).context["form"]
        assert form.initial["site"] == site.pk
        assert form.initial["source"] == source.pk
        # Now, as wall-clock time at the site (Kyiv, UTC+3 in May).
        assert form.initial["as_of"] == dt.datetime(2022, 5, 6, 12, 30)  # noqa: DTZ001

    def test_a_reporter_adds_a_count_read_in_the_sites_local_time(self, login, alice):
        site = factories.SiteFactory(name="Shelter 8", timezone="Europe/Kyiv")
        source = factories.SourceFactory()
        response = login(alice).post(
            en("tracker:count_new"),
            {
                "site": site.pk,
                "count": "180",
                "count_high": "",
                "qualifier": "approximately",
                "as_of": "2022-05-06T10:00",
                "source": source.pk,
            },
        )
        assert response.status_code == 302
        count = CivilianCount.objects.get(site=site)
        assert count.as_of == dt.datetime(2022, 5, 6, 7, 0, tzinfo=UTC)
        assert (count.count, count.organisation, count.created_by) == (180, alice.organisation, alice)
        # Written through the service: the audit history names her.
        assert count.history.get().history_user == alice

    def test_bad_input_is_refused_and_everything_typed_comes_back(self, login, alice):
        site, source = factories.SiteFactory(), factories.SourceFactory()
        data = {
            "site": site.pk,
            "count": "300",
            "count_high": "200",
            "qualifier": "approximately",
            "as_of": "2022-05-06T10:00",
            "source": source.pk,
        }
        response = login(alice).post(en("tracker:count_new"), data)
        assert response.status_code == 400
        html = response.content.decode()
        assert "The high end of the range must be at least the count." in html
        assert 'value="300"' in html and 'value="200"' in html and 'value="2022-05-06T10:00"' in html
        assert not CivilianCount.objects.exists()

    def test_a_time_that_is_not_a_time_is_refused(self, login, alice):
        site, source = factories.SiteFactory(), factories.SourceFactory()
        data = {"site": site.pk, "count": "3", "qualifier": "exact", "as_of": "yesterday", "source": source.pk}
        response = login(alice).post(en("tracker:count_new"), data)
        assert response.status_code == 400
        assert "Enter a date and time" in response.content.decode()

    def test_a_user_in_no_organisation_may_not_add_figures(self, login, db):
        loner = factories.UserFactory(username="loner", organisation=None)
        assert login(loner).get(en("tracker:count_new")).status_code == 403


class TestHostilityForm:
    def test_a_reporter_adds_a_report_through_the_service(self, login, alice):
        site, source = factories.SiteFactory(), factories.SourceFactory()
        response = login(alice).post(
            en("tracker:hostility_new"),
            {
                "site": site.pk,
                "kind": "shelling",
                "started_at": "2022-05-05T10:00",
                "ended_at": "2022-05-05T12:00",
                "time_precision": "exact",
                "description": "Heavy shelling near the exit road.",
                "source": source.pk,
            },
        )
        assert response.status_code == 302
        report = HostilityReport.objects.get()
        assert (report.started_at, report.ended_at) == (
            dt.datetime(2022, 5, 5, 7, tzinfo=UTC),
            dt.datetime(2022, 5, 5, 9, tzinfo=UTC),
        )
        assert report.history.get().history_user == alice

    def test_an_ongoing_report_with_an_end_is_refused_with_the_models_message(self, login, alice):
        site, source = factories.SiteFactory(), factories.SourceFactory()
        response = login(alice).post(
            en("tracker:hostility_new"),
            {
                "site": site.pk,
                "kind": "shelling",
                "started_at": "2022-05-05T10:00",
                "ended_at": "2022-05-05T12:00",
                "ongoing": "on",
                "time_precision": "exact",
                "source": source.pk,
            },
        )
        assert response.status_code == 400
        assert "An ongoing report has no end yet" in response.content.decode()
        assert not HostilityReport.objects.exists()


class TestMyFigures:
    def test_it_lists_only_what_the_person_entered(self, login, alice, bob):
        factories.CivilianCountFactory(count=111, created_by=alice, organisation=alice.organisation)
        factories.CivilianCountFactory(count=999, created_by=bob, organisation=bob.organisation)
        factories.DepartureFactory(count=42, created_by=alice, organisation=alice.organisation)
        html = login(alice).get(en("tracker:my_figures")).content.decode()
        assert "about 111 people" in html
        assert "42 people left" in html
        assert "999" not in html

    def test_its_query_count_does_not_grow_with_the_figures(self, login, alice):
        client = login(alice)
        factories.CivilianCountFactory(created_by=alice, organisation=alice.organisation)
        factories.HostilityReportFactory(created_by=alice, organisation=alice.organisation)
        factories.DepartureFactory(created_by=alice, organisation=alice.organisation)
        factories.ArrivalFactory(created_by=alice, organisation=alice.organisation)
        few = queries_for(client, en("tracker:my_figures"))
        for _ in range(4):
            factories.CivilianCountFactory(created_by=alice, organisation=alice.organisation)
            factories.HostilityReportFactory(created_by=alice, organisation=alice.organisation)
            factories.DepartureFactory(created_by=alice, organisation=alice.organisation)
            factories.ArrivalFactory(created_by=alice, organisation=alice.organisation)
        assert queries_for(client, en("tracker:my_figures")) == few

    @pytest.mark.parametrize("name", ["tracker:count_new", "tracker:hostility_new"])
    def test_form_query_counts_do_not_grow_with_sites_and_sources(self, login, alice, name):
        client = login(alice)
        factories.SiteFactory(parent=factories.SiteFactory())
        few = queries_for(client, en(name))
        for _ in range(5):
            factories.SiteFactory(parent=factories.SiteFactory())
            factories.SourceFactory()
        assert queries_for(client, en(name)) == few
