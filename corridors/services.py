"""
Named write operations on corridors, their windows and flags. Like tracker/services.py:
permission check, the model's rules, the user in the audit history, one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from corridors import events, recheck, webhooks
from corridors.models import (
    AlertSubscription,
    Corridor,
    CorridorWaypoint,
    CorridorWindow,
    Flag,
    Webhook,
    stranded_message,
)
from corridors.schedule import MAX_DAYS, ScheduleError, expand_schedule
from tracker import permissions
from tracker.audit import audited_delete, audited_save, changed_fields, lock_row_shared
from tracker.models import Site
from tracker.sync import sync_touch
from tracker.validators import validate_date

if TYPE_CHECKING:
    from tracker.models import User


def _require_manager(user: User) -> None:
    if not permissions.can_manage_places(user):
        raise PermissionDenied(_("Only coordinators can manage corridors and their windows."))


def _lock_corridor(corridor_id: int) -> None:
    """
    Until the end of the transaction, one change at a time to this corridor's path and
    windows: two windows saved side by side would each pass the other's overlap check,
    two new paths would interleave their waypoints. A departure or arrival being saved
    share-locks the row (tracker/services.py, `_lock_context`): it waits for the change
    and is checked against it, or the change waits and checks it.
    """
    Corridor.objects.select_for_update(no_key=True).filter(pk=corridor_id).first()


def _origin_zone(corridor: Corridor) -> str:
    """
    The zone of the corridor's origin as stored now, its row share-locked until the end
    of the transaction: a schedule read in the zone of an origin whose zone change
    commits meanwhile would be expanded in the old one. The change waits for the
    schedule, or the schedule for the change, and reads the new zone.
    """
    lock_row_shared(Site, corridor.origin_id)
    return Site.objects.values_list("timezone", flat=True).get(pk=corridor.origin_id)


def _check_path(corridor: Corridor) -> None:
    """The corridor's path, as it now is, still holds the departures and arrivals given for it."""
    stranded = corridor.movements_off_path(corridor.path_site_ids())
    if stranded:
        raise ValidationError({"waypoints": [stranded_message(stranded)]})


@transaction.atomic
def corridor_save(*, corridor: Corridor, user: User, waypoints: Sequence[Site] | None = None) -> Corridor:
    """
    Create or change a corridor; `waypoints`, when given, replaces its path between
    origin and destination, in order. The whole new path must hold the departures
    and arrivals already given for the corridor.
    """
    _require_manager(user)
    if corridor._state.adding:
        corridor.organisation = getattr(user, "organisation", None)
        corridor.created_by = user
    else:
        _lock_corridor(corridor.pk)
    moved = not corridor._state.adding and bool(changed_fields(corridor) & {"origin", "destination"})
    audited_save(corridor, user=user)
    if moved:
        recheck.recheck_corridors(corridor_ids=[corridor.pk])
    if waypoints is not None:
        corridor_set_waypoints(corridor=corridor, user=user, waypoints=waypoints, check=False)
    if moved or waypoints is not None:
        _check_path(corridor)
    return corridor


@transaction.atomic
def corridor_set_waypoints(*, corridor: Corridor, user: User, waypoints: Sequence[Site], check: bool = True) -> None:
    """Replace the corridor's path between origin and destination with these sites, in order."""
    _require_manager(user)
    _lock_corridor(corridor.pk)
    sites = list(waypoints)
    current = list(corridor.corridor_waypoints.order_by("position"))
    if [w.site_id for w in current] == [s.pk for s in sites]:
        return
    for waypoint in current:
        audited_delete(waypoint, user=user)
    for position, site in enumerate(sites, start=1):
        audited_save(CorridorWaypoint(corridor=corridor, site=site, position=position), user=user)
    if check:
        _check_path(corridor)
    recheck.recheck_corridors(corridor_ids=[corridor.pk])


@transaction.atomic
def corridor_delete(*, corridor: Corridor, user: User) -> None:
    """Delete a corridor that has no windows (a corridor with windows is closed, not deleted)."""
    _require_manager(user)
    audited_delete(corridor, user=user)


@transaction.atomic
def window_save(*, window: CorridorWindow, user: User) -> CorridorWindow:
    """
    Create or change a window (live windows of one corridor may not overlap:
    CorridorWindow.clean). Its flags follow after the commit; a cancelled window's
    are withdrawn.
    """
    _require_manager(user)
    if window.corridor_id is not None:
        _lock_corridor(window.corridor_id)
    changed = set() if window._state.adding else changed_fields(window, lock=True)
    if not window._state.adding and not changed:
        return window
    audited_save(window, user=user)
    recheck.recheck_window(window_id=window.pk)
    if "cancelled" in changed and window.cancelled:
        events.window_changed(event_type="window.cancelled", window=window, now=timezone.now())
    return window


@transaction.atomic
def window_delete(*, window: CorridorWindow, user: User) -> None:
    """Delete a window that raised no flag; one with flags stays (they refer to it): cancel it instead."""
    _require_manager(user)
    window_id = window.pk
    audited_delete(window, user=user)
    recheck.recheck_window(window_id=window_id)


@transaction.atomic
def schedule_expand(
    *,
    corridor: Corridor,
    user: User,
    local_start: dt.time,
    local_end: dt.time,
    first_date: dt.date,
    days: int,
) -> list[CorridorWindow]:
    """
    Create the windows of "local_start–local_end daily, `days` days from `first_date`"
    in the corridor's local time (its origin's zone). All or nothing.
    """
    _require_manager(user)
    validate_date(first_date)
    if 1 <= days <= MAX_DAYS:
        validate_date(first_date + dt.timedelta(days=days))  # the last window ends within the years too
    # Two coordinators adding schedules to one corridor at once would each see no
    # clash; locking the corridor row makes the second wait and then see the first's.
    _lock_corridor(corridor.pk)
    try:
        intervals = expand_schedule(
            local_start=local_start,
            local_end=local_end,
            first_date=first_date,
            days=days,
            zone_name=_origin_zone(corridor),
        )
    except ScheduleError as exc:
        raise ValidationError(str(exc)) from None
    return [
        window_save(window=CorridorWindow(corridor=corridor, starts_at=start, ends_at=end), user=user)
        for start, end in intervals
    ]


@transaction.atomic
def flag_review(*, flag: Flag, user: User, status: str, note: str = "") -> Flag:
    """
    A coordinator acknowledges a flag ("we know, we are on it") or dismisses it with
    a reason ("the report is about another road"). A withdrawn flag is not reviewed:
    its overlap is gone.
    """
    if not permissions.can_review_flags(user):
        raise PermissionDenied(_("Only coordinators can review flags."))
    if status not in Flag.REVIEW_STATUSES:
        raise ValidationError({"status": _("A review acknowledges or dismisses a flag.")})
    note = note.strip()
    if status == Flag.Status.DISMISSED and not note:
        raise ValidationError({"note": _("Say why the flag is dismissed.")})
    # The flag engine may be updating this flag right now; the lock orders the two. It
    # locks the window first, then the flag: so does a review, or the two could deadlock.
    CorridorWindow.objects.select_for_update(no_key=True).filter(pk=flag.window_id).first()
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.status == Flag.Status.WITHDRAWN:
        raise ValidationError({"status": _("This flag was withdrawn: its overlap no longer exists.")})
    flag.status = status
    flag.review_note = note
    flag.reviewed_by = user
    flag.reviewed_at = timezone.now()
    audited_save(flag, user=user)
    # The window counts its open flags: a syncing client must be given it again.
    sync_touch(model=CorridorWindow, ids=[flag.window_id])
    events.flags_changed(event_type="flag.reviewed", flags=[flag], now=flag.reviewed_at)
    return flag


def webhook_save(*, webhook: Webhook, user: User, corridors: Sequence[Corridor] | None = None) -> Webhook:
    """
    Register or change an endpoint (coordinators and admins; one's own, or any for an
    admin). A new one gets its signing secret here. Its address must lead to a public
    network (corridors/webhooks.py); turning it on again clears why it was turned off.
    """
    if not permissions.is_coordinator(user) or (
        webhook.owner_id not in (None, user.pk) and not permissions.is_admin(user)
    ):
        raise PermissionDenied(_("Only coordinators and admins register webhooks, each their own."))
    webhooks.check_url(webhook.url)
    unknown = sorted(set(webhook.events) - set(Webhook.EVENT_TYPES))
    if not webhook.events or unknown:
        raise ValidationError(
            {"events": _("Choose one or more of: %(types)s.") % {"types": ", ".join(Webhook.EVENT_TYPES)}}
        )
    if webhook._state.adding:
        webhook.owner = user
        webhook.secret = webhooks.new_secret()
    if webhook.active:
        webhook.disabled_reason = ""
    audited_save(webhook, user=user)
    if corridors is not None:
        webhook.corridors.set(corridors)
    return webhook


def webhook_delete(*, webhook: Webhook, user: User) -> None:
    if webhook.owner_id != user.pk and not permissions.is_admin(user):
        raise PermissionDenied(_("Only coordinators and admins register webhooks, each their own."))
    # Locked first: an attempt being logged right now (it holds the row) finishes before
    # its delivery is deleted, and none starts after (corridors/webhooks.py, _attempt).
    Webhook.objects.select_for_update().filter(pk=webhook.pk).first()
    webhook.delete()


def alert_subscription_save(
    *, subscription: AlertSubscription, user: User, corridors: Sequence[Corridor] | None = None
) -> AlertSubscription:
    """A coordinator's own e-mail alerts of raised flags (an admin may change anyone's)."""
    if not permissions.can_review_flags(user) or (
        subscription.user_id not in (None, user.pk) and not permissions.is_admin(user)
    ):
        raise PermissionDenied(_("Only coordinators and admins get flag alerts, each their own."))
    if subscription._state.adding and subscription.user_id is None:
        subscription.user = user
    if not subscription.user.email:
        raise ValidationError({"user": _("Give the account an e-mail address first: alerts are sent to it.")})
    audited_save(subscription, user=user)
    if corridors is not None:
        subscription.corridors.set(corridors)
    return subscription
