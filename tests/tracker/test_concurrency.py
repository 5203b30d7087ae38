"""
Writes to figures that race, as real concurrent transactions on PostgreSQL
(tests/concurrency.py): what a service decides from a row, it decides from the row
as it will be written; the API's If-Match and Idempotency-Key hold under concurrency.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied

from corridors import services as corridor_services
from corridors.models import Corridor
from tests import factories
from tests.api import api, url
from tests.concurrency import Holder, Side
from tracker import services
from tracker.models import CivilianCount, HostilityReport, IdempotencyRecord, Role, Site

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def erin(ngo_b):
    """A coordinator of another organisation than alice's: she may change only the verification of alice's figures."""
    return factories.UserFactory(username="erin", organisation=ngo_b, role=Role.COORDINATOR)


def test_a_verification_decided_on_a_stale_row_cannot_undo_a_change_made_meanwhile(alice, erin):
    figure = factories.CivilianCountFactory(organisation=alice.organisation, count=200)
    seen_by_erin = CivilianCount.objects.get(pk=figure.pk)

    def correct():
        mine = CivilianCount.objects.get(pk=figure.pk)
        mine.count = 2000
        return services.figure_save(figure=mine, user=alice)

    def verify():
        seen_by_erin.verification = "verified"
        return services.figure_save(figure=seen_by_erin, user=erin)

    correcting, verifying = Side(correct, pause_after=True), Side(verify)
    try:
        correcting.start().wait_until_paused()
        verifying.start()
        verifying.wait_until_blocked()
        correcting.go()
        correcting.result()
        # Decided on the row as it is now: she would be changing the count back, which is not hers to do.
        with pytest.raises(PermissionDenied):
            verifying.result()  # before the fix: it wrote count=200, verified, over alice's correction
    finally:
        correcting.join()
        verifying.join()
    figure.refresh_from_db()
    assert (figure.count, figure.verification) == (2000, "unverified")


@pytest.mark.parametrize("first", ["zone", "report"])
def test_a_report_saved_while_its_site_changes_zone_covers_the_day_in_the_new_zone(alice, carol, first):
    """A day-precision report covers the local day: in the site's zone as it is once both have committed."""
    site = factories.SiteFactory(name="Kherson", timezone="Europe/Kyiv")
    source = factories.SourceFactory()
    stale_site = Site.objects.get(pk=site.pk)

    def change_zone():
        mine = Site.objects.get(pk=site.pk)
        mine.timezone = "Asia/Tokyo"
        return services.site_save(site=mine, user=carol)

    def report():
        new = HostilityReport(
            site=stale_site, kind="shelling", started_at=utc(2022, 5, 5, 10), time_precision="day", source=source
        )
        return services.hostility_report_save(report=new, user=alice)

    sides = {"zone": Side(change_zone, pause_after=True), "report": Side(report, pause_after=True)}
    earlier, later = sides[first], sides["report" if first == "zone" else "zone"]
    try:
        earlier.start().wait_until_paused()
        later.start()
        later.wait_until_blocked()  # before the fix neither waited for the other
        earlier.go()
        earlier.result()
        later.go()
        later.result()
    finally:
        earlier.join()
        later.join()
    saved = HostilityReport.objects.get()
    # 5 May in Tokyo (UTC+9): 4 May 15:00 to 5 May 15:00 UTC.
    assert (saved.coverage_start, saved.coverage_end) == (utc(2022, 5, 4, 15), utc(2022, 5, 5, 15))


def test_two_requests_with_one_idempotency_key_create_one_figure(alice):
    site, source = factories.SiteFactory(), factories.SourceFactory()
    key = str(uuid.uuid4())
    body = {"site": site.pk, "kind": "shelling", "started_at": "2022-05-05T10:00:00+03:00", "source": source.pk}
    holder = Holder().lock(Site._meta.db_table, site.pk)  # stops the first inside its write, its key recorded

    def post():
        return api(alice).post(url("hostility-list"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    first, second = Side(post, atomic=False), Side(post, atomic=False)
    try:
        first.start()
        assert first.wait_until_blocked()
        second.start()
        assert second.wait_until_blocked()  # on the first's uncommitted key
        holder.release()
        one, two = first.result(), second.result()
    finally:
        holder.close()
        first.join()
        second.join()
    assert (one.status_code, two.status_code) == (201, 201)
    assert two.json() == one.json()
    assert two["Idempotent-Replayed"] == "true"
    assert HostilityReport.objects.count() == IdempotencyRecord.objects.count() == 1


def test_two_changes_sent_with_the_same_etag_one_wins_the_other_gets_412(alice):
    report = factories.HostilityReportFactory(organisation=alice.organisation)
    etag = api(alice).get(url("hostility-detail", report.pk))["ETag"]
    holder = Holder().lock(HostilityReport._meta.db_table, report.pk)  # another write of the report, under way

    def patch(description):
        return lambda: api(alice).patch(
            url("hostility-detail", report.pk), {"description": description}, format="json", HTTP_IF_MATCH=etag
        )

    first, second = Side(patch("first"), atomic=False), Side(patch("second"), atomic=False)
    try:
        first.start()
        assert first.wait_until_blocked()
        second.start()
        assert second.wait_until_blocked()  # behind the first, in the row's queue
        holder.release()
        statuses = (first.result().status_code, second.result().status_code)
    finally:
        holder.close()
        first.join()
        second.join()
    assert statuses == (200, 412)
    report.refresh_from_db()
    assert report.description == "first"


class TestAZoneChangeAndTheReportsItMoves:
    """
    A new zone moves what a site's hour- and day-precision reports cover: the zone
    change re-derives them from their rows as they are once locked, and takes them in
    the order every figure write does (the report, then its site), so that a write of
    one of them answered 200 is never undone, and the two never deadlock.
    """

    @pytest.fixture
    def kherson(self, db):
        return factories.SiteFactory(name="Kherson", timezone="Europe/Kyiv")

    @pytest.fixture
    def report(self, alice, kherson):
        return factories.HostilityReportFactory(
            site=kherson, started_at=utc(2022, 5, 5, 10), time_precision="day", organisation=alice.organisation
        )

    def test_an_edit_of_a_report_meanwhile_is_kept_and_covers_the_day_in_the_new_zone(
        self, alice, carol, kherson, report
    ):
        holder = Holder().lock(Site._meta.db_table, kherson.pk)  # a count's refresh of the site, under way
        zone = Side(
            lambda: api(carol).patch(url("site-detail", kherson.pk), {"timezone": "Asia/Tokyo"}, format="json"),
            atomic=False,
        )
        edit = Side(
            lambda: api(alice).patch(
                url("hostility-detail", report.pk), {"description": "Near the port"}, format="json"
            ),
            atomic=False,
        )
        try:
            zone.start()
            assert zone.wait_until_blocked()
            edit.start()
            assert edit.wait_until_blocked()
            holder.release()
            # Before the fix: a deadlock (the zone change held the site and waited for the
            # report; the edit held the report and waited for the site), one of them a 500.
            statuses = (zone.result().status_code, edit.result().status_code)
        finally:
            holder.close()
            zone.join()
            edit.join()
        assert statuses == (200, 200)
        report.refresh_from_db()
        assert report.description == "Near the port"
        # 5 May in Tokyo (UTC+9): 4 May 15:00 to 5 May 15:00 UTC.
        assert (report.coverage_start, report.coverage_end) == (utc(2022, 5, 4, 15), utc(2022, 5, 5, 15))

    def test_a_report_moved_to_another_site_meanwhile_stays_moved(self, alice, carol, kherson, report):
        odesa = factories.SiteFactory(name="Odesa", timezone="Europe/Kyiv")

        def move():
            mine = HostilityReport.objects.get(pk=report.pk)
            mine.site = Site.objects.get(pk=odesa.pk)
            mine.description = "It was Odesa"
            return services.hostility_report_save(report=mine, user=alice)

        def change_zone():
            mine = Site.objects.get(pk=kherson.pk)
            mine.timezone = "Asia/Tokyo"
            return services.site_save(site=mine, user=carol)

        moving, zoning = Side(move, pause_after=True), Side(change_zone)
        try:
            moving.start().wait_until_paused()
            zoning.start()
            assert zoning.wait_until_blocked()  # on the report being moved
            moving.go()
            moving.result()
            zoning.result()
        finally:
            moving.join()
            zoning.join()
        report.refresh_from_db()
        # Before the fix the zone change wrote the report back as it had read it: at Kherson, the move undone.
        assert (report.site_id, report.description) == (odesa.pk, "It was Odesa")
        # 5 May in Kyiv (UTC+3), Odesa's zone.
        assert (report.coverage_start, report.coverage_end) == (utc(2022, 5, 4, 21), utc(2022, 5, 5, 21))

    def test_a_schedule_expanded_while_its_origin_changes_zone_is_in_the_new_zone(self, carol, kherson):
        corridor = factories.CorridorFactory(origin=kherson)
        stale = Corridor.objects.select_related("origin").get(pk=corridor.pk)

        def change_zone():
            mine = Site.objects.get(pk=kherson.pk)
            mine.timezone = "Asia/Tokyo"
            return services.site_save(site=mine, user=carol)

        def expand():
            return corridor_services.schedule_expand(
                corridor=stale,
                user=carol,
                local_start=dt.time(8),
                local_end=dt.time(18),
                first_date=dt.date(2022, 5, 5),
                days=1,
            )

        zoning, expanding = Side(change_zone, pause_after=True), Side(expand)
        try:
            zoning.start().wait_until_paused()
            expanding.start()
            expanding.wait_until_blocked()  # before the fix it did not wait: it read the old zone
            zoning.go()
            zoning.result()
            [window] = expanding.result()
        finally:
            zoning.join()
            expanding.join()
        # 08:00–18:00 in Tokyo, the origin's zone once both have committed.
        assert (window.starts_at, window.ends_at) == (utc(2022, 5, 4, 23), utc(2022, 5, 5, 9))
