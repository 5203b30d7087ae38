"""The API's representations of the facts on the ground (field names: docs/api.md, "Resources")."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from tracker import permissions, secrecy
from tracker.api.base import (
    ATTRIBUTION_FIELDS,
    COMMON_FIELDS,
    MAX_COUNT,
    ModelSerializer,
    StrictCharField,
    StrictFloatField,
    UTCDateTimeField,
)
from tracker.models import (
    DEFAULT_TIMEZONE,
    CivilianCount,
    HostilityReport,
    Organisation,
    Qualifier,
    Role,
    Site,
    Source,
    User,
    canonical_timezone,
)

FIGURE_FIELDS = ("source", "reported_at", "verification", *ATTRIBUTION_FIELDS)
COUNT_LIMITS = {"min_value": 0, "max_value": MAX_COUNT}


class OrganisationSerializer(ModelSerializer):
    class Meta:
        model = Organisation
        fields = (*COMMON_FIELDS, "name", "acronym")


class UserSerializer(ModelSerializer):
    password = StrictCharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write only. Required for a new account; give it again to change it.",
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.REPORTER)

    class Meta:
        model = User
        fields = (*COMMON_FIELDS, "username", "password", "organisation", "role", "is_active")


class SourceSerializer(ModelSerializer):
    class Meta:
        model = Source
        fields = (*COMMON_FIELDS, "name", "kind", "url")


class LatestCountSerializer(serializers.Serializer):
    """A site's latest civilian count (not retracted), whichever source gave it."""

    count = serializers.IntegerField()
    count_high = serializers.IntegerField(allow_null=True)
    qualifier = serializers.ChoiceField(choices=Qualifier.choices)
    as_of = UTCDateTimeField()
    source = serializers.IntegerField(source="source_id")  # type: ignore[assignment]  # a declared field, not Field.source


class SiteSerializer(ModelSerializer):
    """
    A site's exact coordinates are given only to those who may see them when it is
    `restricted`; everyone else gets them coarsened to about 10 km (tracker/geo.py).
    Every output (JSON, CSV, GeoJSON) is made from this representation.
    """

    latitude = StrictFloatField(min_value=-90, max_value=90, help_text="Decimal degrees, −90..90.")
    longitude = StrictFloatField(min_value=-180, max_value=180, help_text="Decimal degrees, −180..180.")
    timezone = StrictCharField(
        default=DEFAULT_TIMEZONE, max_length=64, help_text="IANA time zone name; Europe/Kiev is stored as Europe/Kyiv."
    )
    latest_count = LatestCountSerializer(source="api_latest_count", read_only=True, allow_null=True)

    class Meta:
        model = Site
        fields = (
            *COMMON_FIELDS,
            "name",
            "kind",
            "parent",
            "latitude",
            "longitude",
            "timezone",
            "restricted",
            "latest_count",
        )

    def validate_timezone(self, value: str) -> str:
        try:
            return canonical_timezone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, site: Site) -> dict[str, Any]:
        data = super().to_representation(site)
        if site.restricted and not self._exact_allowed():
            data["latitude"], data["longitude"] = site.public_coordinates()
        elif site.restricted:
            secrecy.shown([site], request=self.context.get("request"))
        return data

    def _exact_allowed(self) -> bool:
        # Asked once per response, not once per site.
        if "exact_location" not in self.context:
            request = self.context.get("request")
            cast("dict[str, Any]", self.context)["exact_location"] = (
                request is not None and permissions.can_view_exact_location(request.user)
            )
        return self.context["exact_location"]


class CivilianCountSerializer(ModelSerializer):
    class Meta:
        model = CivilianCount
        fields = (*COMMON_FIELDS, "site", "as_of", "count", "count_high", "qualifier", *FIGURE_FIELDS)
        read_only_fields = ATTRIBUTION_FIELDS
        extra_kwargs = {"count": COUNT_LIMITS, "count_high": COUNT_LIMITS}


class HostilityReportSerializer(ModelSerializer):
    class Meta:
        model = HostilityReport
        fields = (
            *COMMON_FIELDS,
            "site",
            "kind",
            "started_at",
            "ended_at",
            "ongoing",
            "time_precision",
            "description",
            *FIGURE_FIELDS,
        )
        read_only_fields = ATTRIBUTION_FIELDS


class DeletionSerializer(serializers.Serializer):
    """An object that was deleted: which resource, which id, when."""

    resource = serializers.CharField(help_text="The list it was in: `counts`, `windows`, ...")
    id = serializers.IntegerField(help_text="Its id.")
    deleted_at = UTCDateTimeField(source="history_date")
