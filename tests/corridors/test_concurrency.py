"""
Writes to corridors, windows, movements and flags that race, as real concurrent
transactions on PostgreSQL (tests/concurrency.py): each service decides from rows it
has locked, so the second of two writes sees the first, whichever order they come in.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from corridors import flagging, services
from corridors.models import CorridorWaypoint, CorridorWindow, Departure, Flag, FlagCheck
from corridors.overlap import Overlap
from tests import factories
from tests.concurrency import Holder, Side
from tracker import services as tracker_services
from tracker.models import HostilityReport

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def corridor(db):
    azovstal = factories.SiteFactory(name="Azovstal", kind="shelter")
    return factories.CorridorFactory(
        name="Azovstal → Zaporizhzhia", origin=azovstal, destination=factories.SiteFactory(name="Zaporizhzhia")
    )


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 5), ends_at=utc(2022, 5, 6, 15))


class TestAReportDeletedWhileItsCheckRuns:
    """Issue: the check raised a flag on a report deleted meanwhile; its commit broke the foreign key."""

    def test_the_check_commits_and_the_deletion_finds_the_flag(self, window, alice):
        report = factories.HostilityReportFactory(
            site=window.corridor.origin, started_at=utc(2022, 5, 6, 7), organisation=alice.organisation
        )
        marker = FlagCheck.objects.create(target=FlagCheck.Target.REPORT, target_id=report.pk)
        holder = Holder().lock(FlagCheck._meta.db_table, marker.pk)  # stops the check just before its commit
        check = Side(lambda: flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now()), atomic=False)
        deletion = Side(lambda: tracker_services.hostility_report_delete(report=report, user=alice), atomic=False)
        try:
            check.start()
            assert check.wait_until_blocked()  # it has written its flag, and waits to delete the marker
            deletion.start()
            deletion.wait_until_blocked()  # waits for the check (or, before the fix, deletes at once)
            holder.release()
            outcome = check.result()  # before the fix: IntegrityError (the flag's report was gone)
        finally:
            holder.close()
            check.join()
            deletion.join()
        assert [flag.hostility_id for flag in outcome.raised] == [report.pk]
        with pytest.raises(PermissionDenied, match="cannot be deleted"):
            deletion.result()
        assert HostilityReport.objects.filter(pk=report.pk).exists()
        assert Flag.objects.get().hostility_id == report.pk

    def test_a_plan_for_a_report_that_is_gone_raises_nothing(self, window):
        found = Overlap(utc(2022, 5, 6, 7), utc(2022, 5, 6, 7), "confirmed")
        with transaction.atomic():
            outcome = flagging._apply(flagging.Plan(new=[(window.pk, 987_654, found)]), timezone.now())
        assert not outcome
        assert not Flag.objects.exists()


class TestWindowsSavedSideBySide:
    def test_the_second_sees_the_first_and_is_refused(self, window, carol):
        first = Side(
            lambda: services.window_save(
                window=CorridorWindow(
                    corridor=window.corridor, starts_at=utc(2022, 5, 7, 5), ends_at=utc(2022, 5, 7, 15)
                ),
                user=carol,
            ),
            pause_after=True,
        )
        second = Side(
            lambda: services.window_save(
                window=CorridorWindow(
                    corridor=window.corridor, starts_at=utc(2022, 5, 7, 10), ends_at=utc(2022, 5, 7, 20)
                ),
                user=carol,
            )
        )
        try:
            first.start().wait_until_paused()
            second.start()
            second.wait_until_blocked()  # before the fix it did not wait, and both were saved
            first.go()
            first.result()
            with pytest.raises(ValidationError, match="overlaps another live window"):
                second.result()
        finally:
            first.join()
            second.join()
        assert CorridorWindow.objects.filter(corridor=window.corridor).count() == 2

    def test_the_database_refuses_overlapping_live_windows_too(self, window):
        from django.db import IntegrityError

        with pytest.raises(IntegrityError), transaction.atomic():
            CorridorWindow.objects.create(
                corridor=window.corridor, starts_at=utc(2022, 5, 6, 10), ends_at=utc(2022, 5, 6, 20)
            )
        # A cancelled one may lie anywhere.
        CorridorWindow.objects.create(
            corridor=window.corridor, starts_at=utc(2022, 5, 6, 10), ends_at=utc(2022, 5, 6, 20), cancelled=True
        )


class TestAMovementAndAChangeToItsWindowOrPath:
    """A departure checked against a window or path that changes at the same time."""

    def departure(self, window, alice, **values):
        fields = {
            "origin": window.corridor.origin,
            "window": window,
            "departed_at": utc(2022, 5, 6, 7),
            "count": 50,
            "source": factories.SourceFactory(name="Field team"),
            **values,
        }
        return Departure(**fields)

    @pytest.mark.parametrize("first", ["window", "departure"])
    def test_the_window_cannot_move_away_from_a_departure_saved_meanwhile(self, window, alice, carol, first):
        stale = CorridorWindow.objects.get(pk=window.pk)  # as each side read it before

        def move():
            moved = CorridorWindow.objects.get(pk=window.pk)
            moved.starts_at, moved.ends_at = utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)
            return services.window_save(window=moved, user=carol)

        def leave():
            return tracker_services.figure_save(figure=self.departure(stale, alice), user=alice)

        sides = {"window": Side(move, pause_after=True), "departure": Side(leave, pause_after=True)}
        earlier, later = sides[first], sides["departure" if first == "window" else "window"]
        try:
            earlier.start().wait_until_paused()
            later.start()
            later.wait_until_blocked()
            earlier.go()
            earlier.result()
            later.go()
            with pytest.raises(ValidationError):
                later.result()
        finally:
            earlier.join()
            later.join()
        window.refresh_from_db()
        departures = list(Departure.objects.all())
        # Whichever came first stands, and the two agree.
        assert len(departures) == (1 if first == "departure" else 0)
        assert window.starts_at == (utc(2022, 5, 6, 5) if first == "departure" else utc(2022, 5, 7, 5))

    def test_the_path_cannot_drop_a_stop_a_departure_is_leaving_from_meanwhile(self, window, alice, carol):
        stop = factories.SiteFactory(name="Vasylivka")
        CorridorWaypoint.objects.create(corridor=window.corridor, site=stop, position=1)
        leaving = Side(
            lambda: tracker_services.figure_save(figure=self.departure(window, alice, origin=stop), user=alice),
            pause_after=True,
        )
        dropping = Side(lambda: services.corridor_set_waypoints(corridor=window.corridor, user=carol, waypoints=[]))
        try:
            leaving.start().wait_until_paused()
            dropping.start()
            dropping.wait_until_blocked()
            leaving.go()
            leaving.result()
            with pytest.raises(ValidationError, match="contradicting"):
                dropping.result()
        finally:
            leaving.join()
            dropping.join()
        assert list(window.corridor.corridor_waypoints.values_list("site", flat=True)) == [stop.pk]


class TestFlagReviewAndTheEngine:
    def test_a_review_waits_for_a_withdrawal_and_then_says_so(self, window, alice, carol):
        report = factories.HostilityReportFactory(site=window.corridor.origin, started_at=utc(2022, 5, 6, 7))
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        flag = Flag.objects.get()
        HostilityReport.objects.filter(pk=report.pk).update(verification="retracted")
        marker = FlagCheck.objects.create(target=FlagCheck.Target.REPORT, target_id=report.pk)
        holder = Holder().lock(FlagCheck._meta.db_table, marker.pk)
        check = Side(lambda: flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now()), atomic=False)
        review = Side(lambda: services.flag_review(flag=flag, user=carol, status="acknowledged"))
        try:
            check.start()
            assert check.wait_until_blocked()  # it has withdrawn the flag, not yet committed
            review.start()
            assert review.wait_until_blocked()
            holder.release()
            check.result()
            with pytest.raises(ValidationError, match="withdrawn"):
                review.result()
        finally:
            holder.close()
            check.join()
            review.join()
        flag.refresh_from_db()
        assert (flag.status, flag.reviewed_by) == ("withdrawn", None)


class TestWindowStampsUnderConcurrentWrites:
    """A window's `updated_at` moves with its movements and flags (tracker/sync.py): never lost, never backwards."""

    def departure(self, window, alice, count):
        fields = {"origin": window.corridor.origin, "window": window, "departed_at": utc(2022, 5, 6, 7)}
        return Departure(**fields, count=count, source=factories.SourceFactory())

    def test_two_departures_of_one_window_at_once_both_move_it_the_second_after_the_first(self, window, alice):
        first = Side(
            lambda: tracker_services.figure_save(figure=self.departure(window, alice, 10), user=alice),
            pause_after=True,
        )
        second = Side(lambda: tracker_services.figure_save(figure=self.departure(window, alice, 20), user=alice))
        try:
            first.start().wait_until_paused()
            second.start()
            assert second.wait_until_blocked()  # on the window the first is stamping, not a deadlock
            first.go()
            first.result()
            second.result()
        finally:
            first.join()
            second.join()
        window.refresh_from_db()
        departures = list(Departure.objects.order_by("updated_at"))
        assert [d.count for d in departures] == [10, 20]
        assert window.updated_at >= departures[-1].updated_at

    def test_a_review_while_the_engine_raises_a_flag_on_the_window_waits_and_both_move_it(self, window, carol):
        report = factories.HostilityReportFactory(site=window.corridor.origin, started_at=utc(2022, 5, 6, 7))
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        flag = Flag.objects.get()
        another = factories.HostilityReportFactory(site=window.corridor.origin, started_at=utc(2022, 5, 6, 9))
        check = Side(
            lambda: flagging.flags_check_reports(report_ids=[another.pk], now=timezone.now()), pause_after=True
        )
        review = Side(lambda: services.flag_review(flag=flag, user=carol, status="acknowledged"))
        try:
            check.start().wait_until_paused()  # holds the window, has raised the second flag
            review.start()
            assert review.wait_until_blocked()
            check.go()
            check.result()
            review.result()
        finally:
            check.join()
            review.join()
        window.refresh_from_db()
        assert Flag.objects.count() == 2
        assert window.updated_at >= max(Flag.objects.values_list("updated_at", flat=True))
