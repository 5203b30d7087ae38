"""
The flag engine through the services that trigger it (tasks run eagerly here, after
the commit, as in the embedded default). The worker, broker and crash paths are in
test_flag_worker.py; the random comparison with an oracle in test_flag_property.py.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction
from django.dispatch import receiver

from corridors import candidates, flagging, services, signals, tasks
from corridors.models import Corridor, CorridorWindow, Flag, FlagCheck
from corridors.overlap import Overlap
from tests import factories
from tracker import services as tracker_services
from tracker.models import HostilityReport, Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 8, 12, tzinfo=UTC)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what is queued with on_commit, as a real commit would: `with committed(): ...`."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def places(db):
    """Donetsk oblast > Mariupol > Azovstal; Zaporizhzhia; Odesa; Kherson > Kherson port."""
    donetsk = factories.SiteFactory(name="Donetsk oblast", kind=Site.Kind.REGION)
    mariupol = factories.SiteFactory(name="Mariupol", parent=donetsk)
    azovstal = factories.SiteFactory(name="Azovstal", kind=Site.Kind.SHELTER, parent=mariupol)
    kherson = factories.SiteFactory(name="Kherson")
    return {
        "donetsk": donetsk,
        "mariupol": mariupol,
        "azovstal": azovstal,
        "bunker": factories.SiteFactory(name="Azovstal bunker 3", parent=azovstal),
        "zaporizhzhia": factories.SiteFactory(name="Zaporizhzhia"),
        "odesa": factories.SiteFactory(name="Odesa"),
        "kherson": kherson,
        "kherson_port": factories.SiteFactory(name="Kherson port", parent=kherson),
    }


@pytest.fixture
def corridor(places, carol, committed):
    with committed():
        corridor = services.corridor_save(
            corridor=Corridor(
                name="Azovstal → Zaporizhzhia", origin=places["azovstal"], destination=places["zaporizhzhia"]
            ),
            user=carol,
        )
    return corridor


@pytest.fixture
def windows(corridor, carol, committed):
    """08:00–18:00 Kyiv on 5, 6 and 7 May 2022: 05:00–15:00 UTC."""
    with committed():
        return services.schedule_expand(
            corridor=corridor,
            user=carol,
            local_start=dt.time(8),
            local_end=dt.time(18),
            first_date=dt.date(2022, 5, 5),
            days=3,
        )


def report_save(user, committed, report=None, **fields):
    if report is None:
        fields.setdefault("kind", HostilityReport.Kind.SHELLING)
        fields.setdefault("source", factories.SourceFactory())
        report = HostilityReport(**fields)
    else:
        for name, value in fields.items():
            setattr(report, name, value)
    with committed():
        tracker_services.hostility_report_save(report=report, user=user)
    return report


def flags_of(report):
    return {
        (f.window.starts_at.day, f.status, f.certainty, f.overlap_start, f.overlap_end)
        for f in Flag.objects.filter(hostility=report).select_related("window")
    }


def every_row():
    """Flags and their history, as tuples: to show that something changed nothing."""
    flags = sorted(Flag.objects.values_list("id", "window", "hostility", "overlap_start", "overlap_end", "status"))
    return flags, Flag.history.count()


def test_a_report_at_the_origin_flags_the_window_it_overlaps(places, windows, alice, committed):
    report = report_save(
        alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7), ended_at=utc(2022, 5, 5, 9)
    )
    assert flags_of(report) == {(5, "open", "confirmed", utc(2022, 5, 5, 7), utc(2022, 5, 5, 9))}
    flag = Flag.objects.get()
    assert flag.raised_at <= dt.datetime.now(UTC)
    assert CorridorWindow.objects.flagged().get() == flag.window
    assert flag.window.flagged
    assert not FlagCheck.objects.exists(), "the check consumed its outbox marker"


@pytest.mark.parametrize(
    ("site", "touches"),
    [
        ("azovstal", True),  # the origin
        ("zaporizhzhia", True),  # the destination
        ("mariupol", True),  # an ancestor of the origin: fighting "around the plant"
        ("donetsk", True),
        ("bunker", True),  # a descendant of the origin
        ("odesa", False),
        ("kherson", False),
    ],
)
def test_a_report_touches_a_corridor_through_the_site_tree(places, windows, alice, committed, site, touches):
    report = report_save(alice, committed, site=places[site], started_at=utc(2022, 5, 5, 7))
    assert Flag.objects.filter(hostility=report).exists() is touches


def test_a_waypoint_is_on_the_path(places, corridor, windows, carol, alice, committed):
    report = report_save(alice, committed, site=places["kherson_port"], started_at=utc(2022, 5, 6, 7))
    assert not Flag.objects.exists()
    with committed():
        services.corridor_set_waypoints(corridor=corridor, user=carol, waypoints=[places["kherson"]])
    assert flags_of(report) == {(6, "open", "confirmed", utc(2022, 5, 6, 7), utc(2022, 5, 6, 7))}
    with committed():
        services.corridor_set_waypoints(corridor=corridor, user=carol, waypoints=[])
    assert flags_of(report) == {(6, "withdrawn", "confirmed", utc(2022, 5, 6, 7), utc(2022, 5, 6, 7))}


def test_an_ongoing_report_flags_every_later_window_and_ending_it_withdraws_the_later_ones(
    places, windows, alice, committed
):
    report = report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 12), ongoing=True)
    assert flags_of(report) == {
        (5, "open", "confirmed", utc(2022, 5, 5, 12), utc(2022, 5, 5, 15)),
        (6, "open", "confirmed", utc(2022, 5, 6, 5), utc(2022, 5, 6, 15)),
        (7, "open", "confirmed", utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)),
    }
    report_save(alice, committed, report, ongoing=False, ended_at=utc(2022, 5, 6, 8))
    assert flags_of(report) == {
        (5, "open", "confirmed", utc(2022, 5, 5, 12), utc(2022, 5, 5, 15)),
        (6, "open", "confirmed", utc(2022, 5, 6, 5), utc(2022, 5, 6, 8)),  # updated in place
        (7, "withdrawn", "confirmed", utc(2022, 5, 7, 5), utc(2022, 5, 7, 15)),
    }
    day6 = Flag.objects.get(window__starts_at__day=6)
    assert [h.overlap_end for h in day6.history.order_by("history_id")] == [utc(2022, 5, 6, 15), utc(2022, 5, 6, 8)]
    assert Flag.objects.count() == 3, "never deleted"


def test_retracting_withdraws_and_restoring_reopens(places, windows, alice, carol, committed):
    report = report_save(
        alice, committed, site=places["mariupol"], started_at=utc(2022, 5, 6, 10, 30), time_precision="hour"
    )
    flag = Flag.objects.get()
    with committed():
        services.flag_review(flag=flag, user=carol, status="acknowledged")
    report_save(alice, committed, report, verification="retracted")
    flag.refresh_from_db()
    assert (flag.status, flag.certainty) == ("withdrawn", "possible")
    assert not CorridorWindow.objects.flagged().exists()

    report_save(alice, committed, report, verification="unverified")
    flag.refresh_from_db()
    assert (flag.status, flag.reviewed_by, flag.review_note) == ("open", None, "")
    assert list(flag.history.order_by("history_id").values_list("status", flat=True)) == [
        "open",
        "acknowledged",
        "withdrawn",
        "open",
    ]


def test_a_review_survives_a_changed_overlap_but_not_a_vanished_one(places, windows, alice, carol, committed):
    report = report_save(
        alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 6), ended_at=utc(2022, 5, 5, 8)
    )
    with committed():
        services.flag_review(flag=Flag.objects.get(), user=carol, status="dismissed", note="Another road.")
    report_save(alice, committed, report, ended_at=utc(2022, 5, 5, 9))
    flag = Flag.objects.get()
    assert (flag.status, flag.review_note, flag.overlap_end) == ("dismissed", "Another road.", utc(2022, 5, 5, 9))
    report_save(alice, committed, report, started_at=utc(2022, 5, 5, 1), ended_at=utc(2022, 5, 5, 2))
    flag.refresh_from_db()
    assert flag.status == "withdrawn"


def test_cancelling_a_window_withdraws_its_flags(places, windows, alice, carol, committed):
    report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 4), ongoing=True)
    assert Flag.objects.filter(status="open").count() == 3
    window = windows[1]
    window.cancelled = True
    with committed():
        services.window_save(window=window, user=carol)
    assert set(Flag.objects.values_list("window__starts_at__day", "status")) == {
        (5, "open"),
        (6, "withdrawn"),
        (7, "open"),
    }


def test_moving_a_window_moves_its_flag(places, windows, alice, carol, committed):
    report = report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 7, 16))
    assert not Flag.objects.exists()
    window = windows[2]
    window.ends_at = utc(2022, 5, 7, 17)
    with committed():
        services.window_save(window=window, user=carol)
    assert flags_of(report) == {(7, "open", "confirmed", utc(2022, 5, 7, 16), utc(2022, 5, 7, 16))}


def test_moving_a_site_under_another_parent_rechecks(places, windows, alice, carol, committed):
    """A shelter entered under Kherson is in fact part of Azovstal; then the correction is undone."""
    shelter = factories.SiteFactory(name="Shelter 7", kind=Site.Kind.SHELTER, parent=places["kherson"])
    report = report_save(alice, committed, site=shelter, started_at=utc(2022, 5, 6, 7))
    assert not Flag.objects.exists()
    shelter.parent = places["azovstal"]
    with committed():
        tracker_services.site_save(site=shelter, user=carol)
    assert flags_of(report) == {(6, "open", "confirmed", utc(2022, 5, 6, 7), utc(2022, 5, 6, 7))}
    shelter.parent = places["kherson"]
    with committed():
        tracker_services.site_save(site=shelter, user=carol)
    assert flags_of(report) == {(6, "withdrawn", "confirmed", utc(2022, 5, 6, 7), utc(2022, 5, 6, 7))}


def test_moving_the_corridors_origin_rechecks(places, corridor, windows, alice, carol, committed):
    report = report_save(alice, committed, site=places["odesa"], started_at=utc(2022, 5, 6, 7))
    corridor.origin = places["odesa"]
    with committed():
        services.corridor_save(corridor=corridor, user=carol)
    assert flags_of(report) == {(6, "open", "confirmed", utc(2022, 5, 6, 7), utc(2022, 5, 6, 7))}


def test_a_new_time_zone_moves_what_a_day_report_covers(places, corridor, windows, alice, carol, committed):
    """
    Reported for the day of 7 May 20:00 UTC. In Kyiv that is local 7 May (6 May 21:00 –
    7 May 21:00 UTC), over the window of 7 May; in Tokyo local 8 May (from 7 May 15:00
    UTC), which only touches that window's end.
    """
    report = report_save(alice, committed, site=places["odesa"], started_at=utc(2022, 5, 7, 20), time_precision="day")
    with committed():
        services.corridor_set_waypoints(corridor=corridor, user=carol, waypoints=[places["odesa"]])
    assert flags_of(report) == {(7, "open", "possible", utc(2022, 5, 7, 5), utc(2022, 5, 7, 15))}
    odesa = places["odesa"]
    odesa.timezone = "Asia/Tokyo"
    with committed():
        tracker_services.site_save(site=odesa, user=carol)
    assert flags_of(report) == {(7, "withdrawn", "possible", utc(2022, 5, 7, 5), utc(2022, 5, 7, 15))}
    report.refresh_from_db()
    assert report.coverage_start == utc(2022, 5, 7, 15)


def test_running_a_check_twice_or_the_sweep_after_it_changes_nothing(places, windows, alice, committed):
    report = report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 4), ongoing=True)
    before = every_row()
    assert before[1] == 3
    flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
    flagging.flags_check_windows(window_ids=[w.pk for w in windows], now=NOW)
    flagging.flags_check_corridor(corridor_id=windows[0].corridor_id, now=NOW)
    flagging.flags_reconcile_all(now=NOW)
    FlagCheck.objects.create(target="report", target_id=report.pk, created_at=NOW - dt.timedelta(hours=1))
    flagging.flags_sweep(now=NOW, grace=dt.timedelta(minutes=1))
    assert every_row() == before
    assert not FlagCheck.objects.exists()


def test_a_rolled_back_change_leaves_no_marker_and_raises_nothing(places, windows, alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        report_save(alice, lambda: transaction.atomic(), site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
        raise RuntimeError("the request failed after the save")
    assert not HostilityReport.objects.exists()
    assert not FlagCheck.objects.exists()
    assert not Flag.objects.exists()


def test_the_sweep_catches_up_a_check_whose_task_was_lost(places, windows, alice, settings):
    """A commit whose on_commit task never ran (here: not executed at all) leaves its marker behind."""
    report = HostilityReport(site=places["azovstal"], kind="shelling", source=factories.SourceFactory())
    report.started_at = utc(2022, 5, 5, 7)
    tracker_services.hostility_report_save(report=report, user=alice)  # on_commit callbacks are not run here
    assert not Flag.objects.exists()
    [marker] = FlagCheck.objects.all()
    too_young = flagging.flags_sweep(now=marker.created_at + dt.timedelta(seconds=30), grace=dt.timedelta(minutes=1))
    assert not too_young
    assert FlagCheck.objects.exists()
    tally = flagging.flags_sweep(now=marker.created_at + dt.timedelta(minutes=2), grace=dt.timedelta(minutes=1))
    assert tally == flagging.Tally(raised=1)
    assert Flag.objects.get().hostility == report
    assert not FlagCheck.objects.exists()


def test_the_full_reconciliation_repairs_flags_made_stale_behind_the_engines_back(places, windows, alice, committed):
    report = report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
    Flag.objects.all().update(status="withdrawn")  # what a stray script might do
    tally = flagging.flags_reconcile_all(now=NOW, batch_size=2)
    assert tally == flagging.Tally(raised=1, reopened=1)
    assert (Flag.objects.get().hostility, Flag.objects.get().status) == (report, "open")


def test_reconciliation_batches_shrink_where_reports_are_dense(places, windows, alice, committed, monkeypatch):
    """The batch size follows the pairs each batch held, so memory does not grow with the reports."""
    for hour in range(5, 15):
        report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, hour), ongoing=True)
    sizes = []
    check = flagging.flags_check_windows

    def recording(*, window_ids, now):
        sizes.append(len(window_ids))
        return check(window_ids=window_ids, now=now)

    monkeypatch.setattr(flagging, "flags_check_windows", recording)
    # Each of the 3 windows holds 10 candidate pairs and their 10 flags.
    monkeypatch.setattr(flagging, "FIRST_BATCH_SIZE", 2)
    monkeypatch.setattr(flagging, "PAIR_BUDGET", 30)
    assert not flagging.flags_reconcile_all(now=NOW)
    assert sizes == [2, 1], "40 pairs were over budget: halved"
    sizes.clear()
    monkeypatch.setattr(flagging, "FIRST_BATCH_SIZE", 1)
    monkeypatch.setattr(flagging, "PAIR_BUDGET", 1000)
    assert not flagging.flags_reconcile_all(now=NOW)
    assert sizes == [1, 2], "20 pairs were far under budget: doubled"


def test_raising_and_withdrawing_send_a_signal_and_one_log_line(places, windows, alice, committed, caplog):
    heard = []

    @receiver(signals.flag_raised)
    def on_raised(sender, flag, reopened, **kwargs):
        heard.append(("raised", flag.pk, reopened))

    @receiver(signals.flag_withdrawn)
    def on_withdrawn(sender, flag, **kwargs):
        heard.append(("withdrawn", flag.pk))

    try:
        with caplog.at_level(logging.INFO, logger="corridors.flags"):
            report = report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
            report_save(alice, committed, report, verification="retracted")
            report_save(alice, committed, report, verification="unverified")
    finally:
        signals.flag_raised.disconnect(on_raised)
        signals.flag_withdrawn.disconnect(on_withdrawn)
    flag = Flag.objects.get()
    assert heard == [("raised", flag.pk, False), ("withdrawn", flag.pk), ("raised", flag.pk, True)]
    lines = [r.getMessage() for r in caplog.records if r.name == "corridors.flags" and "event=flag_" in r.getMessage()]
    assert len(lines) == 3
    assert lines[0].startswith(f"event=flag_raised flag={flag.pk} window={flag.window_id} hostility={report.pk} ")
    assert lines[1].startswith(f"event=flag_withdrawn flag={flag.pk} ")


def test_a_broken_receiver_does_not_stop_the_engine(places, windows, alice, committed, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("webhook down")

    signals.flag_raised.connect(broken)
    try:
        report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
    finally:
        signals.flag_raised.disconnect(broken)
    assert Flag.objects.filter(status="open").count() == 1
    assert any("event=receiver_failed" in r.getMessage() for r in caplog.records)


def test_a_task_retries_a_lost_database_connection_but_not_a_bug(places, windows):
    with mock.patch.object(flagging, "flags_check_reports", side_effect=[OperationalError("gone"), None]) as check:
        result = tasks.check_report.apply(args=[1], throw=False)
    assert (check.call_count, result.state) == (2, "SUCCESS")
    with mock.patch.object(flagging, "flags_check_reports", side_effect=ValueError("a bug")) as check:
        result = tasks.check_report.apply(args=[1], throw=False)
    assert (check.call_count, result.state) == (1, "FAILURE")
    assert isinstance(result.result, ValueError)


def test_an_unreachable_broker_does_not_fail_the_write(places, windows, alice, committed, caplog):
    import kombu.exceptions

    with mock.patch.object(tasks.check_report, "delay", side_effect=kombu.exceptions.OperationalError("refused")):
        report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
    assert HostilityReport.objects.count() == 1
    assert FlagCheck.objects.count() == 1, "the marker stays for the sweep"
    assert any("event=broker_unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
def test_postgres_answers_the_candidate_queries_from_the_gist_indexes(places, windows):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = candidates.window_candidates_sql([windows[0].pk])
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "hostility_site_coverage_gist" in plan, plan
        sql, params = candidates.report_candidates_sql([1, 2])
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan on corridors_corridorwindow" not in plan, plan


def test_the_flags_check_command_reconciles_and_says_what_it_did(places, windows, alice, committed):
    from django.core.management import call_command

    report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 7))
    Flag.objects.all().update(status="withdrawn")
    out = io.StringIO()
    call_command("flags_check", "--all", stdout=out)
    assert out.getvalue().startswith("1 raised (1 reopened), 0 updated, 0 withdrawn in ")
    out = io.StringIO()
    call_command("flags_check", stdout=out)
    assert out.getvalue().startswith("0 raised (0 reopened), 0 updated, 0 withdrawn in ")


def test_a_review_committed_while_a_check_runs_is_not_undone(places, windows, alice, carol, committed):
    """The check read the flag as open; a coordinator acknowledged it before the check wrote its new overlap."""
    report_save(alice, committed, site=places["azovstal"], started_at=utc(2022, 5, 5, 6), ended_at=utc(2022, 5, 5, 8))
    flag = Flag.objects.get()
    # What the check decided from the open flag it read: a longer overlap.
    later = Overlap(utc(2022, 5, 5, 6), utc(2022, 5, 5, 9), "confirmed")
    plan = flagging.Plan(changes={flag.pk: ("update", later)})
    with committed():
        services.flag_review(flag=flag, user=carol, status="acknowledged")
    outcome = flagging._apply(plan, NOW)
    flag.refresh_from_db()
    assert [f.pk for f in outcome.updated] == [flag.pk]
    assert (flag.status, flag.reviewed_by, flag.overlap_end) == ("acknowledged", carol, utc(2022, 5, 5, 9))
