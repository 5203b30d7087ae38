"""Who may write what through the services, and what the audit history keeps."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, connection, transaction

from tests import factories
from tracker import services
from tracker.models import CivilianCount, HostilityReport, Site, Source, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def new_count(**fields):
    return CivilianCount(
        site=fields.pop("site", None) or factories.SiteFactory(),
        source=fields.pop("source", None) or factories.SourceFactory(),
        as_of=dt.datetime(2022, 5, 4, 9, tzinfo=UTC),
        count=200,
        qualifier="approximately",
        **fields,
    )


def test_a_new_figure_is_stamped_with_the_users_organisation_and_the_user(alice, ngo_a):
    count = services.figure_save(figure=new_count(), user=alice)
    assert (count.organisation, count.created_by) == (ngo_a, alice)


def test_an_admin_without_organisation_may_add_figures_with_no_organisation(dave):
    count = services.figure_save(figure=new_count(), user=dave)
    assert count.organisation is None
    assert count.created_by == dave


def test_a_reporter_without_organisation_may_not_add_figures(alice):
    alice.organisation = None
    with pytest.raises(PermissionDenied):
        services.figure_save(figure=new_count(), user=alice)
    assert not CivilianCount.objects.exists()


def test_a_reporter_edits_their_own_organisations_figures_but_not_anothers(alice, bob, carol):
    count = services.figure_save(figure=new_count(), user=alice)
    count.count = 210
    services.figure_save(figure=count, user=carol)  # carol is at NGO A too
    count.count = 220
    with pytest.raises(PermissionDenied, match="your own organisation"):
        services.figure_save(figure=count, user=bob)
    assert CivilianCount.objects.get().count == 210


def test_a_coordinator_may_change_only_the_verification_of_another_organisations_figure(bob, carol):
    count = services.figure_save(figure=new_count(), user=bob)
    count.verification = Verification.VERIFIED
    services.figure_save(figure=count, user=carol)
    assert CivilianCount.objects.get().verification == "verified"
    count.count = 1
    with pytest.raises(PermissionDenied):
        services.figure_save(figure=count, user=carol)
    assert CivilianCount.objects.get().count == 200


@pytest.mark.parametrize(
    ("value", "allowed"), [("unverified", True), ("retracted", True), ("verified", False), ("disputed", False)]
)
def test_reporters_may_retract_but_only_coordinators_verify_or_dispute(alice, value, allowed):
    count = services.figure_save(figure=new_count(), user=alice)
    count.verification = value
    if allowed:
        services.figure_save(figure=count, user=alice)
    else:
        with pytest.raises(PermissionDenied, match="Only a coordinator"):
            services.figure_save(figure=count, user=alice)
    assert (CivilianCount.objects.get().verification == value) is allowed


def test_a_reporter_cannot_create_a_figure_already_verified(alice):
    with pytest.raises(PermissionDenied):
        services.figure_save(figure=new_count(verification=Verification.VERIFIED), user=alice)
    assert not CivilianCount.objects.exists()


def test_the_organisation_and_author_of_a_figure_cannot_be_changed(alice, bob, dave):
    count = services.figure_save(figure=new_count(), user=alice)
    count.organisation = bob.organisation
    with pytest.raises(PermissionDenied, match="cannot be changed"):
        services.figure_save(figure=count, user=dave)


def test_an_invalid_figure_writes_nothing(alice):
    with pytest.raises(ValidationError):
        services.figure_save(figure=new_count(count_high=1), user=alice)
    assert not CivilianCount.objects.exists()
    assert not CivilianCount.history.exists()


def test_saving_an_unchanged_figure_writes_no_history(alice):
    count = services.figure_save(figure=new_count(), user=alice)
    services.figure_save(figure=count, user=alice)
    assert count.history.count() == 1


def test_history_keeps_who_changed_what_and_the_earlier_values(alice, carol):
    count = services.figure_save(figure=new_count(), user=alice)
    count.count = 180
    services.figure_save(figure=count, user=carol)
    services.figure_delete(figure=count, user=carol)
    records = list(CivilianCount.history.order_by("history_date", "history_id"))
    assert [(r.history_type, r.history_user, r.count) for r in records] == [
        ("+", alice, 200),
        ("~", carol, 180),
        ("-", carol, 180),
    ]
    change = records[1].diff_against(records[0])
    assert [(c.field, c.old, c.new) for c in change.changes] == [("count", 200, 180)]


def test_a_reporter_may_not_delete_another_organisations_figure(alice, bob):
    count = services.figure_save(figure=new_count(), user=alice)
    with pytest.raises(PermissionDenied):
        services.figure_delete(figure=count, user=bob)
    assert CivilianCount.objects.exists()


def test_a_report_with_a_flag_cannot_be_deleted_only_retracted(alice):
    report = factories.HostilityReportFactory(organisation=alice.organisation)
    factories.FlagFactory(hostility=report)
    with pytest.raises(PermissionDenied, match="cannot be deleted"):
        services.hostility_report_delete(report=report, user=alice)
    assert HostilityReport.objects.filter(pk=report.pk).exists()


def test_only_coordinators_manage_sites(alice, carol):
    site = factories.SiteFactory.build(timezone="Europe/Kiev")
    with pytest.raises(PermissionDenied):
        services.site_save(site=site, user=alice)
    services.site_save(site=site, user=carol)
    assert Site.objects.get().timezone == "Europe/Kyiv"
    assert Site.history.get().history_user == carol


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["move", "rename", "add"])
def test_a_site_write_waits_for_another_to_end(carol, change):
    """Two moves side by side could close a cycle, any write could miss a restriction: they take turns."""
    city, plant = factories.SiteFactory(name="Mariupol"), factories.SiteFactory(name="Azovstal")
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    )
    with other:
        other.execute("SELECT pg_advisory_lock(%s)", [services.SITE_TREE_LOCK])  # another site write, under way
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        if change == "move":
            plant.parent = city
        elif change == "rename":
            plant.name = "Azovstal steel plant"
        else:
            plant = factories.SiteFactory.build(name="Bunker 3", parent=city)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            services.site_save(site=plant, user=carol)
    assert list(Site.objects.order_by("pk").values_list("name", "parent")) == [("Mariupol", None), ("Azovstal", None)]


def test_any_staff_member_adds_a_source_but_only_coordinators_change_it(alice, carol):
    source = services.source_save(source=Source(name="Mayor of Mariupol", kind="official"), user=alice)
    source.url = "https://mariupolrada.gov.ua/"
    with pytest.raises(PermissionDenied):
        services.source_save(source=source, user=alice)
    services.source_save(source=source, user=carol)
    assert Source.objects.get().url == "https://mariupolrada.gov.ua/"


def test_an_inactive_user_may_do_nothing(alice):
    alice.is_active = False
    with pytest.raises(PermissionDenied):
        services.figure_save(figure=new_count(), user=alice)
