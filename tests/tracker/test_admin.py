"""Staff data entry in the admin: what each role sees and may change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from corridors.models import CorridorWindow
from tests import factories
from tracker.models import CivilianCount, HostilityReport, Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def count_form(site, source, **overrides):
    return {
        "site": site.pk,
        "as_of_0": "2022-05-04",
        "as_of_1": "12:00:00",
        "count": "200",
        "count_high": "",
        "qualifier": "approximately",
        "source": source.pk,
        "reported_at_0": "",
        "reported_at_1": "",
        "verification": "unverified",
        **overrides,
    }


def test_the_public_is_sent_to_the_login_page(public):
    response = public.get(reverse("admin:tracker_civiliancount_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_a_reporter_sees_only_their_organisations_figures(login, alice, bob):
    mine = factories.CivilianCountFactory(organisation=alice.organisation, count=111)
    factories.CivilianCountFactory(organisation=bob.organisation, count=999)
    response = login(alice).get(reverse("admin:tracker_civiliancount_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [mine]


def test_a_reporter_cannot_open_another_organisations_figure(login, alice, bob):
    theirs = factories.CivilianCountFactory(organisation=bob.organisation)
    client = login(alice)
    response = client.get(reverse("admin:tracker_civiliancount_change", args=[theirs.pk]))
    assert response.status_code == 302  # "doesn't exist. Perhaps it was deleted?"
    response = client.post(reverse("admin:tracker_civiliancount_delete", args=[theirs.pk]), {"post": "yes"})
    assert CivilianCount.objects.filter(pk=theirs.pk).exists()


def test_a_reporter_adds_a_count_stamped_with_their_organisation(login, alice):
    site, source = factories.SiteFactory(), factories.SourceFactory()
    response = login(alice).post(reverse("admin:tracker_civiliancount_add"), count_form(site, source))
    assert response.status_code == 302, response.context["adminform"].form.errors
    count = CivilianCount.objects.get()
    assert (count.organisation, count.created_by, count.as_of) == (
        alice.organisation,
        alice,
        dt.datetime(2022, 5, 4, 9, tzinfo=UTC),  # typed in Kyiv time (TIME_ZONE), stored in UTC
    )
    assert count.history.get().history_user == alice


def test_a_reporter_cannot_type_in_an_organisation_or_pick_verified(login, alice, bob):
    site, source = factories.SiteFactory(), factories.SourceFactory()
    form = count_form(site, source, verification="verified", organisation=bob.organisation.pk)
    response = login(alice).post(reverse("admin:tracker_civiliancount_add"), form)
    assert response.status_code == 200
    assert "verification" in response.context["adminform"].form.errors
    assert not CivilianCount.objects.exists()


def test_a_coordinator_may_only_verify_another_organisations_figure(login, carol, bob):
    theirs = factories.CivilianCountFactory(organisation=bob.organisation, count=300)
    client = login(carol)
    url = reverse("admin:tracker_civiliancount_change", args=[theirs.pk])
    form = client.get(url).context["adminform"].form
    assert list(form.fields) == ["verification"]
    response = client.post(url, {"verification": "disputed", "count": "1"})
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.verification, theirs.count) == ("disputed", 300)


def test_a_bad_range_is_explained_and_nothing_is_saved(login, alice):
    site, source = factories.SiteFactory(), factories.SourceFactory()
    response = login(alice).post(
        reverse("admin:tracker_civiliancount_add"), count_form(site, source, count="120", count_high="100")
    )
    assert "The high end of the range must be at least the count." in response.content.decode()
    assert not CivilianCount.objects.exists()


def test_only_coordinators_add_sites(login, alice, carol):
    data = {
        "name": "Azovstal",
        "kind": "shelter",
        "latitude": "47.098",
        "longitude": "37.611",
        "timezone": "Europe/Kiev",
    }
    assert login(alice).post(reverse("admin:tracker_site_add"), data).status_code == 403
    response = login(carol).post(reverse("admin:tracker_site_add"), {**data, "restricted": "yes"})
    assert response.status_code == 302
    assert Site.objects.get().timezone == "Europe/Kyiv"


def test_a_reporter_never_sees_a_restricted_sites_exact_position(login, alice):
    shelter = factories.SiteFactory(name="Azovstal", latitude=47.09801, longitude=37.61102, restricted=True)
    client = login(alice)
    for url in (
        reverse("admin:tracker_site_changelist"),
        reverse("admin:tracker_site_change", args=[shelter.pk]),
        reverse("admin:tracker_site_history", args=[shelter.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 403  # the sites' admin is not a reporter's (tests/tracker/test_secrecy.py)
        assert "47.098" not in response.content.decode()


def test_a_coordinator_sees_the_exact_position(login, carol):
    shelter = factories.SiteFactory(latitude=47.09801, longitude=37.61102, restricted=True)
    assert "47.09801" in login(carol).get(reverse("admin:tracker_site_changelist")).content.decode()
    assert login(carol).get(reverse("admin:tracker_site_change", args=[shelter.pk])).status_code == 200


def test_users_and_organisations_are_for_admins_only(login, carol, dave):
    assert login(carol).get(reverse("admin:tracker_user_changelist")).status_code == 403
    assert login(carol).get(reverse("admin:tracker_organisation_changelist")).status_code == 403
    assert login(dave).get(reverse("admin:tracker_user_changelist")).status_code == 200


def test_a_coordinator_adds_a_schedule_that_becomes_windows(login, carol):
    corridor = factories.CorridorFactory()
    client = login(carol)
    change_page = client.get(reverse("admin:corridors_corridor_change", args=[corridor.pk])).content.decode()
    schedule_url = reverse("admin:corridors_corridor_schedule", args=[corridor.pk])
    assert schedule_url in change_page
    response = client.post(
        schedule_url, {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": "3"}
    )
    assert response.status_code == 302
    assert list(CorridorWindow.objects.values_list("starts_at", flat=True)) == [
        dt.datetime(2022, 5, d, 5, tzinfo=UTC) for d in (5, 6, 7)
    ]


def test_a_schedule_that_clashes_is_explained_and_adds_nothing(login, carol):
    window = factories.WindowFactory()
    response = login(carol).post(
        reverse("admin:corridors_corridor_schedule", args=[window.corridor.pk]),
        {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": "2"},
    )
    assert response.status_code == 200
    assert "overlaps another live window" in response.content.decode()
    assert CorridorWindow.objects.count() == 1


def test_a_reporter_may_not_add_a_schedule(login, alice):
    corridor = factories.CorridorFactory()
    response = login(alice).post(
        reverse("admin:corridors_corridor_schedule", args=[corridor.pk]),
        {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": "3"},
    )
    assert response.status_code == 403
    assert not CorridorWindow.objects.exists()


def test_windows_are_edited_inline_under_their_corridor(login, carol):
    window = factories.WindowFactory()
    page = login(carol).get(reverse("admin:corridors_corridor_change", args=[window.corridor.pk])).content.decode()
    assert "2022-05-05 08:00–2022-05-05 18:00 Europe/Kyiv (UTC+3)" in page  # local time at the origin


def test_a_reporter_retracts_their_report_from_the_list(login, alice):
    report = factories.HostilityReportFactory(organisation=alice.organisation)
    login(alice).post(
        reverse("admin:tracker_hostilityreport_changelist"), {"action": "retract", "_selected_action": [report.pk]}
    )
    report.refresh_from_db()
    assert report.verification == "retracted"
    assert report.history.latest().history_user == alice


def test_bulk_delete_goes_through_the_services_and_the_history(login, alice):
    counts = factories.CivilianCountFactory.create_batch(2, organisation=alice.organisation)
    login(alice).post(
        reverse("admin:tracker_civiliancount_changelist"),
        {"action": "delete_selected", "_selected_action": [c.pk for c in counts], "post": "yes"},
    )
    assert not CivilianCount.objects.exists()
    assert CivilianCount.history.filter(history_type="-", history_user=alice).count() == 2


def test_every_admin_page_renders_for_a_coordinator(login, carol):
    """Smoke test: every changelist and add form renders."""
    factories.FlagFactory()
    factories.DepartureFactory()
    factories.ArrivalFactory()
    factories.CivilianCountFactory()
    client = login(carol)
    for model in ("site", "source", "civiliancount", "hostilityreport"):
        assert client.get(reverse(f"admin:tracker_{model}_changelist")).status_code == 200
    for model in ("corridor", "corridorwindow", "departure", "arrival", "flag"):
        assert client.get(reverse(f"admin:corridors_{model}_changelist")).status_code == 200
    for model in ("corridor", "corridorwindow", "departure", "arrival"):
        assert client.get(reverse(f"admin:corridors_{model}_add")).status_code == 200
    assert client.get(reverse("admin:tracker_hostilityreport_add")).status_code == 200
    assert HostilityReport.objects.exists()
