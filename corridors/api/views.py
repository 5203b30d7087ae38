"""
The API's resources for corridors, their windows and schedules, departures, arrivals
and flags. Writes go through corridors/services.py (and tracker/services.py for the
figures); the conventions are in tracker/api/base.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import F, Prefetch, QuerySet, prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from corridors import selectors, services, webhooks
from corridors.api import filters
from corridors.api import serializers as api
from corridors.models import (
    AlertSubscription,
    Arrival,
    Corridor,
    CorridorWaypoint,
    CorridorWindow,
    Departure,
    Flag,
    Webhook,
    WebhookAttempt,
)
from tracker import permissions
from tracker import selectors as tracker_selectors
from tracker.api import idempotency
from tracker.api.base import ModelViewSet, ReadViewSet, etag_of
from tracker.api.renderers import GeoJSONRenderer, flat_properties
from tracker.api.schema import ETAG, IF_MATCH
from tracker.api.views import COMMON_HXL, FIGURE_HXL, FigureViewSet

if TYPE_CHECKING:
    from tracker.api.base import ApiRequest

WINDOW_HXL = {
    **COMMON_HXL,
    "corridor": "#access+id",
    "starts_at": "#date+start",
    "ends_at": "#date+end",
    "local_starts_at": "#date+start+local",
    "local_ends_at": "#date+end+local",
    "status": "#status",
    "cancelled": "#status+cancelled",
    "flagged": "#status+flagged",
    "open_flags": "#indicator+num+flags",
    "departed": "#affected+num+departed",
    "departed_qualifier": "#affected+qualifier+departed",
    "arrived": "#affected+num+arrived",
    "arrived_qualifier": "#affected+qualifier+arrived",
    "arrived_counts_crossings": "#affected+crossings+arrived",
}


def prepare_windows(windows: Sequence[CorridorWindow], *, now: Any) -> None:
    """Give each window its state at `now`, its count of open flags and its departure/arrival totals. Three queries."""
    flags = selectors.open_flag_counts([w.pk for w in windows])
    totals = selectors.window_totals(w.pk for w in windows)
    for window in windows:
        window.api_status = window.status_at(now)  # type: ignore[attr-defined]
        # Its local times are its corridor's origin's: annotated on a listed window.
        window.api_zone = getattr(window, "origin_timezone", None) or window.corridor.origin.timezone  # type: ignore[attr-defined]
        window.open_flags = flags.get(window.pk, 0)  # type: ignore[attr-defined]
        window.totals = totals.get(window.pk, selectors.WindowTotals())  # type: ignore[attr-defined]


class CorridorViewSet(ModelViewSet):
    """
    Announced routes out: origin, waypoints, destination. Coordinators manage them and
    add schedules (`schedule/`), which expand into windows in the origin's local time.
    """

    queryset = Corridor.objects.select_related("origin").order_by("name", "id")
    serializer_class = api.CorridorSerializer
    filterset_class = filters.CorridorFilter
    hxl_tags = {
        **FIGURE_HXL,
        "name": "#access+name",
        "origin": "#loc+id+origin",
        "destination": "#loc+id+destination",
        "waypoints": "#loc+id+waypoints",
        "announced_by": "#meta+source+id",
        "announced_at": "#date+reported",
        "ceasefire_announced": "#status+ceasefire",
        "status": "#status",
        "timezone": "#meta+timezone",
    }

    def may_create(self, user: Any) -> bool:
        return permissions.can_manage_places(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_places(user)

    def get_renderers(self) -> list[Any]:
        return [*super().get_renderers(), GeoJSONRenderer()]

    def geojson_features(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """
        `?format=geojson`: a LineString per corridor from its origin through its
        waypoints to its destination, at the positions the reader may see (a
        restricted site coarsened to about 10 km: `position_precision` says
        `approximate` when one is), with the names of its ends and its windows'
        flagged state; flat properties. Four queries for a page.
        """
        exact = permissions.can_view_exact_location(self.request.user)
        paths = {row["id"]: [row["origin"], *row["waypoints"], row["destination"]] for row in rows}
        sites = tracker_selectors.positions_of((pk for path in paths.values() for pk in path), exact=exact)
        states = selectors.corridor_window_states(paths)
        features = []
        for row in rows:
            positions = [sites[pk][1] for pk in paths[row["id"]]]
            state = states.get(row["id"], selectors.CorridorWindowState())
            properties = {
                **flat_properties(row),
                "origin_name": sites[row["origin"]][0],
                "destination_name": sites[row["destination"]][0],
                "windows": state.windows,
                "flagged_windows": state.flagged_windows,
                "flagged": state.flagged_windows > 0,
                "position_precision": "approximate" if any(p.approximate for p in positions) else "exact",
            }
            features.append(
                {
                    "type": "Feature",
                    "id": row["id"],
                    "geometry": {"type": "LineString", "coordinates": [[p.longitude, p.latitude] for p in positions]},
                    "properties": properties,
                }
            )
        return features

    def prepare(self, objects: Sequence[Corridor]) -> None:
        prefetch_related_objects(
            list(objects), Prefetch("corridor_waypoints", queryset=CorridorWaypoint.objects.order_by("position"))
        )

    def save(self, instance: Corridor, data: dict[str, Any]) -> Corridor:
        corridor = services.corridor_save(corridor=instance, user=self.request.user, waypoints=data.get("waypoints"))
        corridor.refresh_from_db()  # its path may have changed: the response reads it again
        return corridor

    def perform_destroy(self, instance: Corridor) -> None:
        services.corridor_delete(corridor=instance, user=self.request.user)

    @extend_schema(
        request=api.ScheduleSerializer,
        responses={201: api.WindowSerializer(many=True)},
        summary="Add a daily schedule: one window a day, in the corridor's local time",
    )
    # It answers with the windows it made: not a page of the corridor list, nor filtered by it.
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def schedule(self, request: ApiRequest, pk: str | None = None) -> Response:
        corridor = self.get_object()

        def respond() -> Response:
            schedule = api.ScheduleSerializer(data=request.data)
            schedule.is_valid(raise_exception=True)
            windows = services.schedule_expand(corridor=corridor, user=request.user, **schedule.validated_data)
            prepare_windows(windows, now=request.now)
            data = api.WindowSerializer(windows, many=True, context=self.get_serializer_context()).data
            return Response(data, status=status.HTTP_201_CREATED)

        return idempotency.respond_once(request, respond)


class WindowViewSet(ModelViewSet):
    """
    The concrete windows of the corridors, `[starts_at, ends_at)` in UTC, with their
    local times, state, flags and the people who left and arrived through them.
    Coordinators manage them; cancelling one withdraws its flags.

    `flagged`, `open_flags`, `departed` and `arrived` follow `flags/`, `departures/` and
    `arrivals/`: whatever changes them moves the window's `updated_at` too (tracker/sync.py),
    so a client syncing with `updated_since` is given the window again. `status` follows
    `cancelled` (a change of the window) and the clock, from `starts_at` and `ends_at`.
    """

    queryset = CorridorWindow.objects.select_related("corridor__origin").order_by("starts_at", "id")
    serializer_class = api.WindowSerializer
    filterset_class = filters.WindowFilter
    hxl_tags = WINDOW_HXL

    def may_create(self, user: Any) -> bool:
        return permissions.can_manage_places(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_places(user)

    def get_queryset(self) -> QuerySet[CorridorWindow]:
        queryset = super().get_queryset()
        if self.action == "list":
            # Of a listed window's corridor, its representation needs only the origin's
            # time zone: read that column, not the corridor and the site as objects.
            queryset = queryset.select_related(None).annotate(origin_timezone=F("corridor__origin__timezone"))
        return queryset

    def prepare(self, objects: Sequence[CorridorWindow]) -> None:
        prepare_windows(objects, now=self.request.now)

    def save(self, instance: CorridorWindow, data: dict[str, Any]) -> CorridorWindow:
        return services.window_save(window=instance, user=self.request.user)

    def perform_destroy(self, instance: CorridorWindow) -> None:
        services.window_delete(window=instance, user=self.request.user)


class DepartureViewSet(FigureViewSet):
    """People who left through a corridor, counted at the origin."""

    queryset = Departure.objects.order_by("-departed_at", "-id")
    serializer_class = api.DepartureSerializer
    filterset_class = filters.DepartureFilter
    hxl_tags = {
        **FIGURE_HXL,
        "origin": "#loc+id+origin",
        "corridor": "#access+id",
        "window": "#access+id+window",
        "departed_at": "#date+departed",
        "count": "#affected+num+departed",
        "qualifier": "#affected+qualifier",
        "override_reason": "#description+override",
    }


class ArrivalViewSet(FigureViewSet):
    """People who reached a destination. Figures counted at a crossing count crossings, not distinct people."""

    queryset = Arrival.objects.order_by("-arrived_at", "-id")
    serializer_class = api.ArrivalSerializer
    filterset_class = filters.ArrivalFilter
    hxl_tags = {
        **FIGURE_HXL,
        "origin": "#loc+id+origin",
        "destination": "#loc+id+destination",
        "corridor": "#access+id",
        "window": "#access+id+window",
        "arrived_at": "#date+arrived",
        "count": "#affected+num+arrived",
        "qualifier": "#affected+qualifier",
        "override_reason": "#description+override",
    }


class FlagViewSet(ReadViewSet):
    """
    This window and this hostility report overlap in time and place. Raised, updated
    and withdrawn by the system, never deleted; coordinators review them (`review/`).
    """

    queryset = Flag.objects.select_related("window").order_by("-raised_at", "-id")
    serializer_class = api.FlagSerializer
    filterset_class = filters.FlagFilter
    hxl_tags = {
        **COMMON_HXL,
        "window": "#access+id+window",
        "corridor": "#access+id",
        "hostility": "#event+id",
        "overlap_start": "#date+start",
        "overlap_end": "#date+end",
        "certainty": "#status+certainty",
        "status": "#status",
        "raised_at": "#date+raised",
        "reviewed_by": "#meta+reviewer+id",
        "reviewed_at": "#date+reviewed",
        "review_note": "#description+review",
    }

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_review_flags(user)

    @extend_schema(
        request=api.FlagReviewSerializer,
        responses={200: api.FlagSerializer},
        parameters=[IF_MATCH, ETAG],
        summary="Acknowledge a flag, or dismiss it with a reason",
    )
    @action(detail=True, methods=["post"])
    def review(self, request: ApiRequest, pk: str | None = None) -> Response:
        flag = self.get_object()

        def respond() -> Response:
            # Inside: a retry of a review whose response was lost carries the If-Match
            # of the flag before that review, and must get the first response, not 412.
            self.check_if_match(flag)
            review = api.FlagReviewSerializer(data=request.data)
            review.is_valid(raise_exception=True)
            reviewed = services.flag_review(flag=flag, user=request.user, **review.validated_data)
            data = self.representation(reviewed)
            return Response(data, headers={"ETag": etag_of(data)})

        return idempotency.respond_once(request, respond)


class FlagEventViewSet(ReadViewSet):
    """
    Every flag as one flat row (JSON, or CSV with HXL): the corridor and its window in
    local time, the hostility report's kind, site, source and organisation, the
    certainty and the review. The table a journalist needs, without joins. Read only;
    the same filters as `flags/`.
    """

    queryset = Flag.objects.select_related(
        "window__corridor__origin",
        "hostility__site",
        "hostility__source",
        "hostility__organisation",
        "reviewed_by",
    ).order_by("-raised_at", "-id")
    serializer_class = api.FlagEventSerializer
    filterset_class = filters.FlagFilter
    hxl_tags = {
        "id": "#meta+id",
        "corridor": "#access+id",
        "corridor_name": "#access+name",
        "window": "#access+id+window",
        "window_local_start": "#date+start+local",
        "window_local_end": "#date+end+local",
        "timezone": "#meta+timezone",
        "hostility": "#event+id",
        "report_kind": "#event+type",
        "report_started_at": "#date+event+start",
        "report_ended_at": "#date+event+end",
        "report_precision": "#meta+precision",
        "report_verification": "#status+verification",
        "site": "#loc+id",
        "site_name": "#loc+name",
        "source_name": "#meta+source",
        "organisation": "#org+name",
        "overlap_start": "#date+start",
        "overlap_end": "#date+end",
        "certainty": "#status+certainty",
        "status": "#status",
        "review_note": "#description+review",
        "raised_at": "#date+raised",
        "reviewed_at": "#date+reviewed",
        "reviewed_by": "#meta+reviewer",
        "updated_at": "#meta+updated",
    }


class WebhookViewSet(ModelViewSet):
    """
    Endpoints that are sent signed events (Standard Webhooks): coordinators and admins
    register their own; an admin sees and manages every one. `deliveries/` is the
    delivery log; `test/` sends a `webhook.test` event.
    """

    queryset = Webhook.objects.order_by("id")
    serializer_class = api.WebhookSerializer
    filterset_class = None

    def may_read(self, user: Any) -> bool:
        return permissions.is_coordinator(user)

    def may_create(self, user: Any) -> bool:
        return permissions.is_coordinator(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.is_coordinator(user)

    def get_queryset(self) -> QuerySet[Webhook]:
        queryset = super().get_queryset().prefetch_related("corridors")
        if permissions.is_admin(self.request.user):
            return queryset
        return queryset.filter(owner_id=self.request.user.pk)

    def save(self, instance: Webhook, data: dict[str, Any]) -> Webhook:
        new = instance._state.adding
        webhook = services.webhook_save(webhook=instance, user=self.request.user, corridors=data.get("corridors"))
        webhook.show_secret = new  # type: ignore[attr-defined]
        return webhook

    def perform_destroy(self, instance: Webhook) -> None:
        services.webhook_delete(webhook=instance, user=self.request.user)

    @extend_schema(responses={200: api.WebhookAttemptSerializer(many=True)}, summary="The delivery log, newest first")
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        webhook = self.get_object()
        attempts = (
            WebhookAttempt.objects.filter(delivery__webhook=webhook).select_related("delivery__event").order_by("-id")
        )
        page = self.paginate_queryset(attempts)
        return self.get_paginated_response(api.WebhookAttemptSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: None}, summary="Send a test event to the endpoint")
    @action(detail=True, methods=["post"])
    def test(self, request: ApiRequest, pk: str | None = None) -> Response:
        delivery = webhooks.webhook_send_test(webhook=self.get_object(), now=request.now)
        return Response({"event_id": delivery.event.uid}, status=status.HTTP_202_ACCEPTED)


class AlertSubscriptionViewSet(ModelViewSet):
    """
    E-mail alerts of flags raised on windows that are open or to come: a coordinator's
    own (one each), at once or in a digest, in English or Ukrainian. Admins see all.
    """

    queryset = AlertSubscription.objects.order_by("id")
    serializer_class = api.AlertSubscriptionSerializer
    filterset_class = None

    def may_read(self, user: Any) -> bool:
        return permissions.can_review_flags(user)

    def may_create(self, user: Any) -> bool:
        return permissions.can_review_flags(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_review_flags(user)

    def get_queryset(self) -> QuerySet[AlertSubscription]:
        queryset = super().get_queryset().prefetch_related("corridors")
        if permissions.is_admin(self.request.user):
            return queryset
        return queryset.filter(user_id=self.request.user.pk)

    def save(self, instance: AlertSubscription, data: dict[str, Any]) -> AlertSubscription:
        return services.alert_subscription_save(
            subscription=instance, user=self.request.user, corridors=data.get("corridors")
        )

    def perform_destroy(self, instance: AlertSubscription) -> None:
        if instance.user_id != self.request.user.pk and not permissions.is_admin(self.request.user):
            raise exceptions.PermissionDenied
        instance.delete()
