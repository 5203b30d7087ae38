"""The API's representations of corridors, windows, departures, arrivals and flags (docs/api.md)."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject

from corridors.models import (
    AlertSubscription,
    Arrival,
    Corridor,
    CorridorWindow,
    Departure,
    Flag,
    Webhook,
    WebhookAttempt,
)
from tracker.api.base import (
    ATTRIBUTION_FIELDS,
    COMMON_FIELDS,
    ModelSerializer,
    StrictCharField,
    StrictIntegerField,
    StrictPrimaryKeyRelatedField,
    UTCDateTimeField,
    ZonedDateTimeField,
)
from tracker.api.serializers import COUNT_LIMITS, FIGURE_FIELDS
from tracker.models import Qualifier, Site
from tracker.validators import NOTE_MAX_LENGTH, validate_date


class WaypointsField(serializers.ListField):
    """The corridor's path between origin and destination: site ids, in order."""

    child = StrictPrimaryKeyRelatedField(queryset=Site.objects.all())

    def get_attribute(self, corridor: Corridor) -> list[PKOnlyObject]:
        # `corridor_waypoints` is prefetched in position order by the view.
        return [PKOnlyObject(pk=waypoint.site_id) for waypoint in corridor.corridor_waypoints.all()]


class CorridorSerializer(ModelSerializer):
    waypoints = WaypointsField(
        required=False, max_length=50, help_text="Site ids between origin and destination, in order."
    )
    timezone = serializers.CharField(
        source="origin.timezone", read_only=True, help_text="The corridor's local time: its origin's IANA zone."
    )

    class Meta:
        model = Corridor
        fields = (
            *COMMON_FIELDS,
            "name",
            "origin",
            "destination",
            "waypoints",
            "announced_by",
            "announced_at",
            "ceasefire_announced",
            "status",
            "timezone",
            "verification",
            *ATTRIBUTION_FIELDS,
        )
        read_only_fields = ATTRIBUTION_FIELDS


_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class LocalTimeField(serializers.TimeField):
    """A wall-clock time "HH:MM", 00:00 to 23:59."""

    default_error_messages = {"invalid": _("Give a time from 00:00 to 23:59 as HH:MM.")}

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _HH_MM.match(value):
            self.fail("invalid")
        return super().to_internal_value(value)


class StrictDateField(serializers.DateField):
    """A calendar date "YYYY-MM-DD", years 1900 to 2199 (tracker/validators.py)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_date)

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class ScheduleSerializer(serializers.Serializer):
    """
    "08:00–18:00 local time, daily, 3 days from 2022-05-05", in the corridor's local
    time (its origin's zone). An end at or before the start runs past midnight.
    """

    local_start = LocalTimeField(help_text="Local wall-clock start, HH:MM.")
    local_end = LocalTimeField(help_text="Local wall-clock end, HH:MM; at or before the start: the next day.")
    first_date = StrictDateField(help_text="The local date of the first window.")
    days = StrictIntegerField(min_value=1, max_value=60, help_text="How many daily windows, 1 to 60.")


class WindowSerializer(ModelSerializer):
    """A stretch of time when a corridor is meant to be open, `[starts_at, ends_at)`."""

    # `api_zone`: the corridor's origin's time zone, set by the view's prepare().
    local_starts_at = ZonedDateTimeField(source="starts_at", zone_of=lambda w: w.api_zone)
    local_ends_at = ZonedDateTimeField(source="ends_at", zone_of=lambda w: w.api_zone)
    status = serializers.ChoiceField(
        choices=CorridorWindow.Status.choices,
        source="api_status",
        read_only=True,
        help_text="At the time of the request: scheduled, open or closed; cancelled when set.",
    )
    flagged = serializers.SerializerMethodField(help_text="Whether it has an open or acknowledged flag.")
    open_flags = serializers.IntegerField(read_only=True, help_text="Its flags that are open or acknowledged.")
    departed = serializers.IntegerField(
        source="totals.departed.count", read_only=True, allow_null=True, help_text="Departures linked to it, summed."
    )
    departed_qualifier = serializers.ChoiceField(
        choices=Qualifier.choices, source="totals.departed.qualifier", read_only=True, allow_null=True
    )
    arrived = serializers.IntegerField(
        source="totals.arrived.count", read_only=True, allow_null=True, help_text="Arrivals linked to it, summed."
    )
    arrived_qualifier = serializers.ChoiceField(
        choices=Qualifier.choices, source="totals.arrived.qualifier", read_only=True, allow_null=True
    )
    arrived_counts_crossings = serializers.BooleanField(
        source="totals.arrived.crossings",
        read_only=True,
        allow_null=True,
        help_text="True when some arrivals were counted at a crossing: crossings, not distinct people.",
    )

    class Meta:
        model = CorridorWindow
        fields = (
            *COMMON_FIELDS,
            "corridor",
            "starts_at",
            "ends_at",
            "local_starts_at",
            "local_ends_at",
            "status",
            "cancelled",
            "flagged",
            "open_flags",
            "departed",
            "departed_qualifier",
            "arrived",
            "arrived_qualifier",
            "arrived_counts_crossings",
        )
        # Not DRF's generic "must make a unique set": the model's rules (run by the
        # service) name the live window this one would overlap.
        validators: list[Any] = []

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_flagged(self, window: CorridorWindow) -> bool:
        return window.open_flags > 0  # type: ignore[attr-defined]


OVERRIDE_REASON = {
    "help_text": "Coordinators only: why this figure stands although it does not fit its corridor's path or its "
    'window\'s times (docs/api.md, "Validation"). Empty when it fits.'
}


class DepartureSerializer(ModelSerializer):
    class Meta:
        model = Departure
        fields = (
            *COMMON_FIELDS,
            "origin",
            "corridor",
            "window",
            "departed_at",
            "count",
            "qualifier",
            *FIGURE_FIELDS,
            "override_reason",
        )
        read_only_fields = ATTRIBUTION_FIELDS
        extra_kwargs = {"count": COUNT_LIMITS, "override_reason": OVERRIDE_REASON}


class ArrivalSerializer(ModelSerializer):
    class Meta:
        model = Arrival
        fields = (
            *COMMON_FIELDS,
            "origin",
            "destination",
            "corridor",
            "window",
            "arrived_at",
            "count",
            "qualifier",
            *FIGURE_FIELDS,
            "override_reason",
        )
        read_only_fields = ATTRIBUTION_FIELDS
        extra_kwargs = {"count": COUNT_LIMITS, "override_reason": OVERRIDE_REASON}


class FlagSerializer(ModelSerializer):
    """Read only: flags are raised and withdrawn by the system, and reviewed through `review/`."""

    corridor = serializers.IntegerField(source="window.corridor_id", read_only=True)

    class Meta:
        model = Flag
        fields = (
            *COMMON_FIELDS,
            "window",
            "corridor",
            "hostility",
            "overlap_start",
            "overlap_end",
            "certainty",
            "status",
            "raised_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
        )
        read_only_fields = fields


# What a review may set a flag to (the schema names them FlagReviewStatusEnum: settings.SPECTACULAR_SETTINGS).
REVIEW_STATUSES = list(Flag.REVIEW_STATUSES)


class FlagReviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REVIEW_STATUSES)
    note = StrictCharField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_LENGTH, help_text="Required to dismiss: why."
    )


class WebhookSerializer(ModelSerializer):
    """
    An endpoint that is sent events. `secret` (to verify the signatures) is in the
    response of the POST that creates it, and null in every response after that.
    """

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Webhook.EVENT_TYPES),
        allow_empty=False,
        max_length=len(Webhook.EVENT_TYPES),
    )
    corridors = StrictPrimaryKeyRelatedField(many=True, queryset=Corridor.objects.all(), required=False)
    secret = serializers.CharField(
        read_only=True, allow_null=True, help_text="Only in the response that creates the endpoint; null after that."
    )

    class Meta:
        model = Webhook
        fields = (*COMMON_FIELDS, "url", "events", "corridors", "active", "disabled_reason", "owner", "secret")
        read_only_fields = ("disabled_reason", "owner", "secret")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not getattr(instance, "show_secret", False):
            data["secret"] = None
        return data


class WebhookAttemptSerializer(serializers.ModelSerializer):
    """One try at delivering one event to the endpoint (the delivery log, newest first)."""

    event_id = serializers.CharField(source="delivery.event.uid", help_text="The `webhook-id` header sent.")
    event_type = serializers.CharField(source="delivery.event.type")
    delivery_status = serializers.CharField(source="delivery.status")
    attempted_at = serializers.DateTimeField()

    class Meta:
        model = WebhookAttempt
        fields = (
            "id",
            "event_id",
            "event_type",
            "number",
            "attempted_at",
            "status_code",
            "latency_ms",
            "error",
            "response_excerpt",
            "delivery_status",
        )
        read_only_fields = fields


class AlertSubscriptionSerializer(ModelSerializer):
    """A coordinator's e-mail alerts of flags raised on open or coming windows (to the account's e-mail address)."""

    corridors = StrictPrimaryKeyRelatedField(many=True, queryset=Corridor.objects.all(), required=False)

    class Meta:
        model = AlertSubscription
        fields = (*COMMON_FIELDS, "user", "corridors", "delivery", "language", "active")
        read_only_fields = ("user",)


class FlagEventSerializer(ModelSerializer):
    """
    One flag as a flat row, with the names a reader needs and no ids to join: which
    corridor window (in its local time, with the offset) was hit by what, where,
    according to whom, and how it was reviewed. Who reviewed it is given to
    coordinators and admins only, as on `flags/`; no position is given at all.
    """

    # The corridor's local time is its origin's zone (docs/design.md, "Time", rule 2).
    corridor = serializers.IntegerField(source="window.corridor_id", read_only=True)
    corridor_name = serializers.CharField(source="window.corridor.name", read_only=True)
    window_local_start = ZonedDateTimeField(
        source="window.starts_at",
        zone_of=lambda flag: flag.window.corridor.origin.timezone,
        help_text="The window's start in the corridor's local time, ISO 8601 with that day's offset.",
    )
    window_local_end = ZonedDateTimeField(
        source="window.ends_at",
        zone_of=lambda flag: flag.window.corridor.origin.timezone,
        help_text="The window's end in the corridor's local time, ISO 8601 with that day's offset.",
    )
    timezone = serializers.CharField(source="window.corridor.origin.timezone", read_only=True)
    report_kind = serializers.CharField(source="hostility.kind", read_only=True)
    report_started_at = UTCDateTimeField(source="hostility.started_at", read_only=True)
    report_ended_at = UTCDateTimeField(source="hostility.ended_at", read_only=True, allow_null=True)
    report_precision = serializers.CharField(source="hostility.time_precision", read_only=True)
    report_verification = serializers.CharField(source="hostility.verification", read_only=True)
    site = serializers.IntegerField(source="hostility.site_id", read_only=True)
    site_name = serializers.CharField(source="hostility.site.name", read_only=True)
    source_name = serializers.CharField(source="hostility.source.name", read_only=True)
    organisation = serializers.CharField(
        source="hostility.organisation.name",
        read_only=True,
        allow_null=True,
        help_text="The organisation that entered the hostility report.",
    )
    reviewed_by = serializers.CharField(
        source="reviewed_by.username",
        read_only=True,
        allow_null=True,
        help_text="Coordinators and admins only: who reviewed it; null for everyone else.",
    )

    # `reviewed_by` is a staff account: coordinators and admins only (ModelSerializer).
    person_fields = {"reviewed_by": None}

    class Meta:
        model = Flag
        fields = (
            "id",
            "corridor",
            "corridor_name",
            "window",
            "window_local_start",
            "window_local_end",
            "timezone",
            "hostility",
            "report_kind",
            "report_started_at",
            "report_ended_at",
            "report_precision",
            "report_verification",
            "site",
            "site_name",
            "source_name",
            "organisation",
            "overlap_start",
            "overlap_end",
            "certainty",
            "status",
            "review_note",
            "raised_at",
            "reviewed_at",
            "reviewed_by",
            "updated_at",
        )
        read_only_fields = fields
