"""
The outbox of what the outside world is told: every change an endpoint may have
asked for becomes a WebhookEvent, with one WebhookDelivery per active endpoint that
wants it, written in the transaction of the change itself. After the commit a
delivery task is queued per endpoint (corridors/tasks.py); if the broker is down,
or the worker dies, the rows are still there and the sweep sends them
(corridors/webhooks.py). A rolled-back change tells nobody anything.

`data` is the resource as the API represents it (its serializer), taken when the
change is made: the raise of a flag says what was raised, even if it is withdrawn
before the delivery. None of these resources holds a position, and only coordinators
and admins own endpoints, so every owner gets the same representation: the one a
coordinator reads (OWNERS_VIEW: every organisation's people shown).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from corridors import candidates
from corridors.models import CorridorWindow, Flag, Webhook, WebhookDelivery, WebhookEvent

# The serializer context of an endpoint's owner: coordinators and admins see which staff
# account entered or reviewed a figure (tracker.permissions.can_see_people_of), and
# only they register endpoints.
OWNERS_VIEW: dict[str, Any] = {"people_of": (True, None)}


def new_uid() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _listeners(event_type: str) -> list[tuple[Webhook, set[int]]]:
    """
    The active endpoints that want this type of event, each with its corridors (empty:
    all). One query, and one more when there are any: few endpoints, read whole.
    """
    hooks = [h for h in Webhook.objects.filter(active=True).only("pk", "events") if event_type in h.events]
    if not hooks:
        return []
    through = Webhook.corridors.through.objects.filter(webhook_id__in=[h.pk for h in hooks])
    subscribed: dict[int, set[int]] = {h.pk: set() for h in hooks}
    for webhook_id, corridor_id in through.values_list("webhook_id", "corridor_id"):
        subscribed[webhook_id].add(corridor_id)
    return [(h, subscribed[h.pk]) for h in hooks]


def events_emit(
    *,
    event_type: str,
    resource: str,
    items: Sequence[tuple[dict[str, Any], Iterable[int]]],
    now: dt.datetime,
    key: str | None = None,
    listeners: list[tuple[Webhook, set[int]]] | None = None,
) -> list[WebhookEvent]:
    """
    Record events of one type (`items`: each resource's data and the corridors it is
    about) and their deliveries, in the caller's transaction; queue the deliveries
    after its commit. With no endpoint that wants them, nothing is written.
    """
    listeners = _listeners(event_type) if listeners is None else listeners
    if not listeners or not items:
        return []
    events, wanted = [], []
    for data, corridor_ids in items:
        hooks = [h for h, subscribed in listeners if h.wants(event_type, set(corridor_ids), subscribed)]
        if hooks:
            events.append(
                WebhookEvent(uid=new_uid(), type=event_type, resource=resource, data=data, created_at=now, key=key)
            )
            wanted.append(hooks)
    events = WebhookEvent.objects.bulk_create(events)
    deliveries = [
        WebhookDelivery(webhook=hook, event=event, next_attempt_at=now)
        for event, hooks in zip(events, wanted, strict=True)
        for hook in hooks
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    from corridors import tasks  # the tasks import the delivery service, which reads these models

    for webhook_id in sorted({d.webhook_id for d in deliveries}):
        tasks.deliver_webhook.delay_on_commit(webhook_id)
    return events


def flag_data(flags: Sequence[Flag]) -> list[tuple[dict[str, Any], list[int]]]:
    from corridors.api.serializers import FlagSerializer

    prefetch_related_objects([f for f in flags if "window" not in f._state.fields_cache], "window")
    return [(dict(FlagSerializer(flag, context=dict(OWNERS_VIEW)).data), [flag.window.corridor_id]) for flag in flags]


def flags_changed(*, event_type: str, flags: Sequence[Flag], now: dt.datetime | None = None) -> None:
    """flag.raised, flag.updated, flag.withdrawn, flag.reviewed: in the transaction that changed them."""
    listeners = _listeners(event_type) if flags else []
    if listeners:
        events_emit(
            event_type=event_type,
            resource="flags",
            items=flag_data(flags),
            now=now or timezone.now(),
            listeners=listeners,
        )


def window_changed(*, event_type: str, window: CorridorWindow, now: dt.datetime, key: str | None = None) -> None:
    """window.opened, window.cancelled."""
    from corridors.api.serializers import WindowSerializer
    from corridors.api.views import prepare_windows

    listeners = _listeners(event_type)
    if not listeners:
        return
    prepare_windows([window], now=now)
    events_emit(
        listeners=listeners,
        event_type=event_type,
        resource="windows",
        items=[(dict(WindowSerializer(window, context=dict(OWNERS_VIEW)).data), [window.corridor_id])],
        now=now,
        key=key,
    )


def windows_opened(*, now: dt.datetime, since: dt.timedelta = dt.timedelta(days=1)) -> int:
    """
    window.opened, once per opening, for the windows open at `now` that opened in the
    last day (the beat task runs every minute; the `key` makes a repeat a no-op).
    """
    opened = 0
    windows = CorridorWindow.objects.filter(
        cancelled=False, starts_at__lte=now, starts_at__gt=now - since, ends_at__gt=now
    ).select_related("corridor__origin")
    for window in windows:
        key = f"window.opened:{window.pk}:{window.starts_at.isoformat()}"
        if WebhookEvent.objects.filter(key=key).exists():
            continue
        with transaction.atomic():
            window_changed(event_type="window.opened", window=window, now=now, key=key)
        opened += 1
    return opened


def figure_changed(*, figure: Any, created: bool) -> None:
    """figure.created, figure.updated: a count, a hostility report, a departure or an arrival."""
    event_type = "figure.created" if created else "figure.updated"
    listeners = _listeners(event_type)
    if not listeners:
        return
    from corridors.api.serializers import ArrivalSerializer, DepartureSerializer
    from corridors.models import Arrival, Departure
    from tracker.api.serializers import CivilianCountSerializer, HostilityReportSerializer
    from tracker.models import CivilianCount, HostilityReport

    corridor_ids: set[int] = set()
    if isinstance(figure, CivilianCount):
        serializer: Any = CivilianCountSerializer
        resource = "counts"
    elif isinstance(figure, HostilityReport):
        serializer = HostilityReportSerializer
        resource = "hostilities"
        corridor_ids = candidates.corridors_touching_site(figure.site_id)
    elif isinstance(figure, Departure | Arrival):
        serializer = DepartureSerializer if isinstance(figure, Departure) else ArrivalSerializer
        resource = "departures" if isinstance(figure, Departure) else "arrivals"
        corridor_ids = {figure.corridor_id} if figure.corridor_id else set()
    else:
        return
    data = dict(serializer(figure, context=dict(OWNERS_VIEW)).data)
    events_emit(
        event_type=event_type, resource=resource, items=[(data, corridor_ids)], now=timezone.now(), listeners=listeners
    )
