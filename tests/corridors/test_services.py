"""Corridors, schedules, windows and flag reviews through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from corridors import services
from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, Flag
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def schedule(corridor, user, first_date=dt.date(2022, 5, 5), days=3, start="08:00", end="18:00"):
    return services.schedule_expand(
        corridor=corridor,
        user=user,
        local_start=dt.time.fromisoformat(start),
        local_end=dt.time.fromisoformat(end),
        first_date=first_date,
        days=days,
    )


def test_a_coordinator_adds_a_schedule_and_gets_its_windows_in_utc(carol):
    corridor = factories.CorridorFactory()
    windows = schedule(corridor, carol)
    assert [(w.starts_at.hour, w.ends_at.hour) for w in windows] == [(5, 15)] * 3
    assert [w.starts_at.day for w in windows] == [5, 6, 7]
    assert all(w.history.get().history_user == carol for w in windows)


def test_a_schedule_uses_the_origins_time_zone(carol):
    origin = factories.SiteFactory(timezone="Europe/London")
    corridor = factories.CorridorFactory(origin=origin)
    [window] = schedule(corridor, carol, days=1)
    assert window.starts_at == dt.datetime(2022, 5, 5, 7, tzinfo=UTC)
    assert window.local_starts_at().isoformat() == "2022-05-05T08:00:00+01:00"


def test_a_schedule_is_all_or_nothing(carol):
    corridor = factories.CorridorFactory()
    schedule(corridor, carol, first_date=dt.date(2022, 5, 7), days=1)
    with pytest.raises(ValidationError, match="overlaps another live window"):
        schedule(corridor, carol, first_date=dt.date(2022, 5, 5), days=3)
    assert CorridorWindow.objects.count() == 1


def test_a_schedule_the_clocks_skip_is_refused_with_a_reason(carol):
    corridor = factories.CorridorFactory()
    with pytest.raises(ValidationError, match="clocks skip it"):
        schedule(corridor, carol, first_date=dt.date(2022, 3, 27), days=1, start="03:10", end="03:50")
    assert not CorridorWindow.objects.exists()


def test_reporters_may_not_manage_corridors(alice):
    corridor = factories.CorridorFactory()
    with pytest.raises(PermissionDenied):
        schedule(corridor, alice)
    with pytest.raises(PermissionDenied):
        services.corridor_save(corridor=corridor, user=alice)


def test_a_new_corridor_is_stamped_and_its_waypoints_kept_in_order(carol, ngo_a):
    origin, destination = factories.SiteFactory(), factories.SiteFactory()
    stops = [factories.SiteFactory(), factories.SiteFactory()]
    corridor = services.corridor_save(
        corridor=Corridor(name="Azovstal → Zaporizhzhia", origin=origin, destination=destination),
        user=carol,
        waypoints=stops,
    )
    assert (corridor.organisation, corridor.created_by) == (ngo_a, carol)
    assert corridor.path_site_ids() == [origin.pk, stops[0].pk, stops[1].pk, destination.pk]
    services.corridor_set_waypoints(corridor=corridor, user=carol, waypoints=[stops[1]])
    assert corridor.path_site_ids() == [origin.pk, stops[1].pk, destination.pk]
    assert CorridorWaypoint.history.filter(history_type="-").count() == 2


def test_a_cancelled_window_no_longer_blocks_a_new_one(carol):
    corridor = factories.CorridorFactory()
    [window] = schedule(corridor, carol, days=1)
    window.cancelled = True
    services.window_save(window=window, user=carol)
    [replacement] = schedule(corridor, carol, days=1)
    assert replacement.pk != window.pk


def test_a_window_with_flags_cannot_be_deleted(carol):
    flag = factories.FlagFactory()
    with pytest.raises(PermissionDenied, match="cannot be deleted"):
        services.window_delete(window=flag.window, user=carol)


def test_a_coordinator_acknowledges_a_flag_and_the_history_says_who(carol):
    flag = factories.FlagFactory()
    services.flag_review(flag=flag, user=carol, status="acknowledged")
    flag.refresh_from_db()
    assert (flag.status, flag.reviewed_by) == ("acknowledged", carol)
    assert flag.history.latest().history_user == carol


def test_dismissing_a_flag_needs_a_reason(carol):
    flag = factories.FlagFactory()
    with pytest.raises(ValidationError, match="Say why"):
        services.flag_review(flag=flag, user=carol, status="dismissed", note="  ")
    services.flag_review(flag=flag, user=carol, status="dismissed", note="The report is about another road.")
    assert Flag.objects.get().review_note == "The report is about another road."


@pytest.mark.parametrize("status", ["open", "withdrawn", "nonsense"])
def test_a_review_only_acknowledges_or_dismisses(carol, status):
    flag = factories.FlagFactory()
    with pytest.raises(ValidationError):
        services.flag_review(flag=flag, user=carol, status=status, note="x")


def test_a_withdrawn_flag_cannot_be_reviewed(carol):
    flag = factories.FlagFactory(status=Flag.Status.WITHDRAWN)
    with pytest.raises(ValidationError, match="withdrawn"):
        services.flag_review(flag=flag, user=carol, status="acknowledged")


def test_reporters_may_not_review_flags(alice):
    flag = factories.FlagFactory()
    with pytest.raises(PermissionDenied):
        services.flag_review(flag=flag, user=alice, status="acknowledged")


def test_a_window_is_flagged_while_it_has_open_or_acknowledged_flags():
    window = factories.WindowFactory()
    for status in ("open", "acknowledged", "dismissed", "withdrawn"):
        factories.FlagFactory(window=window, status=status, review_note="reason")
    assert CorridorWindow.objects.with_flag_counts().get().open_flags == 2
