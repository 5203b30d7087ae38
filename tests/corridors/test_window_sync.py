"""
A window's `flagged`, `open_flags`, `departed`, `arrived` and `status` are syncable
(docs/api.md, "Incremental sync"): whatever changes them moves the window's `updated_at`,
so a client that syncs `windows/` with `updated_since` is given the window again.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from corridors import flagging, services, tasks
from corridors.models import Arrival, CorridorWindow, Departure, Flag
from tests import factories
from tests.api import api, url, walk
from tracker import services as tracker_services
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC
LONG_AGO = dt.datetime(2001, 1, 1, tzinfo=UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 5), ends_at=utc(2022, 5, 6, 15))


@pytest.fixture
def other_window(window):
    return factories.WindowFactory(corridor=window.corridor, starts_at=utc(2022, 5, 7, 5), ends_at=utc(2022, 5, 7, 15))


def stamped_long_ago(*windows: CorridorWindow) -> None:
    CorridorWindow.objects.filter(pk__in=[w.pk for w in windows]).update(updated_at=LONG_AGO)


def moved(window: CorridorWindow) -> bool:
    return CorridorWindow.objects.get(pk=window.pk).updated_at > LONG_AGO


def departure(window: CorridorWindow, alice, **values) -> Departure:
    fields = {
        "origin": window.corridor.origin,
        "window": window,
        "departed_at": window.starts_at + dt.timedelta(hours=2),
        "count": 50,
        "source": factories.SourceFactory(),
        **values,
    }
    return tracker_services.figure_save(figure=Departure(**fields), user=alice)


class TestMovements:
    def test_a_departure_added_through_the_api_moves_its_window(self, window, alice):
        stamped_long_ago(window)
        response = api(alice).post(
            url("departure-list"),
            {
                "origin": window.corridor.origin.pk,
                "window": window.pk,
                "departed_at": "2022-05-06T07:00:00Z",
                "count": 40,
                "source": factories.SourceFactory().pk,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert moved(window)

    def test_a_departure_changed_moves_its_window(self, window, alice):
        leaving = departure(window, alice)
        stamped_long_ago(window)
        leaving.count = 60
        tracker_services.figure_save(figure=leaving, user=alice)
        assert moved(window)

    def test_a_departure_moved_to_another_window_moves_both(self, window, other_window, alice):
        leaving = departure(window, alice)
        stamped_long_ago(window, other_window)
        leaving.window, leaving.departed_at = other_window, other_window.starts_at + dt.timedelta(hours=1)
        tracker_services.figure_save(figure=leaving, user=alice)
        assert moved(window) and moved(other_window)

    def test_a_departure_unlinked_from_its_window_moves_it(self, window, alice):
        leaving = departure(window, alice)
        stamped_long_ago(window)
        leaving.window = None
        tracker_services.figure_save(figure=leaving, user=alice)
        assert moved(window)

    def test_a_departure_deleted_moves_its_window(self, window, alice):
        leaving = departure(window, alice)
        stamped_long_ago(window)
        tracker_services.figure_delete(figure=leaving, user=alice)
        assert moved(window)

    def test_an_arrival_added_and_deleted_moves_its_window(self, window, alice, zaporizhzhia):
        stamped_long_ago(window)
        arrival = tracker_services.figure_save(
            figure=Arrival(
                origin=window.corridor.origin,
                destination=zaporizhzhia,
                window=window,
                arrived_at=window.ends_at,
                count=30,
                source=factories.SourceFactory(),
            ),
            user=alice,
        )
        assert moved(window)
        stamped_long_ago(window)
        tracker_services.figure_delete(figure=arrival, user=alice)
        assert moved(window)

    def test_a_figure_saved_unchanged_moves_nothing(self, window, alice):
        leaving = departure(window, alice)
        stamped_long_ago(window)
        tracker_services.figure_save(figure=Departure.objects.get(pk=leaving.pk), user=alice)
        assert not moved(window)


class TestFlags:
    def report(self, window, **values):
        return factories.HostilityReportFactory(site=window.corridor.origin, started_at=utc(2022, 5, 6, 7), **values)

    def test_a_flag_raised_by_the_celery_task_moves_its_window(self, window):
        report = self.report(window)
        stamped_long_ago(window)
        tasks.check_report(report.pk)
        assert Flag.objects.get().window_id == window.pk
        assert moved(window)

    def test_a_flag_withdrawn_moves_its_window(self, window):
        report = self.report(window)
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        stamped_long_ago(window)
        HostilityReport.objects.filter(pk=report.pk).update(verification="retracted")
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        assert Flag.objects.get().status == Flag.Status.WITHDRAWN
        assert moved(window)

    def test_a_flag_raised_by_the_reconciliation_moves_its_window(self, window):
        self.report(window)
        stamped_long_ago(window)
        tasks.reconcile_all_flags()
        assert moved(window)

    def test_a_check_that_changes_nothing_moves_nothing(self, window):
        report = self.report(window)
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        stamped_long_ago(window)
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        assert not moved(window)

    @pytest.mark.parametrize("status", ["acknowledged", "dismissed"])
    def test_a_review_moves_its_window(self, window, carol, status):
        report = self.report(window)
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        stamped_long_ago(window)
        services.flag_review(flag=Flag.objects.get(), user=carol, status=status, note="Known")
        assert moved(window)

    def test_a_flag_is_stamped_when_it_is_written_not_when_its_check_began(self, window):
        report = self.report(window)
        flagging.flags_check_reports(report_ids=[report.pk], now=timezone.now())
        HostilityReport.objects.filter(pk=report.pk).update(verification="retracted")
        began = timezone.now() - dt.timedelta(minutes=10)  # a long reconciliation's clock
        before = timezone.now()
        flagging.flags_check_reports(report_ids=[report.pk], now=began)
        assert Flag.objects.get().updated_at >= before


def test_a_cancelled_window_is_given_again(window, carol):
    stamped_long_ago(window)
    window.cancelled = True
    services.window_save(window=window, user=carol)
    assert moved(window)


def test_a_client_syncing_windows_is_given_the_window_again_with_its_new_figures(window, other_window, alice):
    first = walk(api(), url("window-list", updated_since="2000-01-01T00:00:00Z"))
    assert [(row["id"], row["departed"], row["flagged"]) for row in first] == [
        (window.pk, None, False),
        (other_window.pk, None, False),
    ]
    mark = max(row["updated_at"] for row in first)  # the other window's, after this one's
    departure(window, alice, count=70)
    factories.HostilityReportFactory(site=window.corridor.origin, started_at=utc(2022, 5, 6, 7))
    flagging.flags_reconcile_all(now=timezone.now())
    again = walk(api(), url("window-list", updated_since=mark))
    by_id = {row["id"]: (row["departed"], row["flagged"], row["open_flags"]) for row in again}
    assert by_id[window.pk] == (70, True, 1)
