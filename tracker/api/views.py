"""
The API's resources for the facts on the ground, and its tokens. Each viewset says who
may write in terms of tracker/permissions.py and writes through tracker/services.py;
the conventions (transactions, ETags, idempotency, pagination) are in base.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, user_login_failed
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from knox import views as knox_views
from rest_framework import exceptions, serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from tracker import accounts, permissions, selectors, services
from tracker.api import filters
from tracker.api import serializers as api
from tracker.api.base import AwareDateTimeFormField, ModelViewSet, StrictCharField, UTCDateTimeField
from tracker.api.renderers import GeoJSONRenderer, flat_properties
from tracker.models import CivilianCount, HostilityReport, Organisation, Site, Source, User

# Record timestamps are #meta, not #date: a tool asking for a table's #date gets the
# date the figure is about (a count's as_of), not when the row was written.
COMMON_HXL = {"id": "#meta+id", "created_at": "#meta+created", "updated_at": "#meta+updated"}
FIGURE_HXL = {
    **COMMON_HXL,
    "source": "#meta+source+id",
    "reported_at": "#date+reported",
    "verification": "#status+verification",
    "organisation": "#org+id",
    "created_by": "#meta+entered_by+id",
}


def point_feature(row: dict[str, Any], site_name: str, position: selectors.Position) -> dict[str, Any]:
    """A GeoJSON Feature of a figure at a site: a Point at the position given, the row's fields flat."""
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [position.longitude, position.latitude]},
        "properties": {
            **flat_properties(row),
            "site_name": site_name,
            "position_precision": "approximate" if position.approximate else "exact",
        },
    }


class FigureViewSet(ModelViewSet):
    """
    Counts, hostility reports, departures, arrivals: public to read. A member of an
    organisation adds them for it and changes its own; a coordinator also verifies or
    disputes anyone's (tracker/services.py, `figure_save`).
    """

    def may_create(self, user: Any) -> bool:
        return permissions.can_add_figures(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_edit_figure(user, obj) or permissions.is_coordinator(user)

    def may_delete(self, user: Any, obj: Any) -> bool:
        return permissions.can_edit_figure(user, obj)

    def save(self, instance: Any, data: dict[str, Any]) -> Any:
        return services.figure_save(figure=instance, user=self.request.user)

    def perform_destroy(self, instance: Any) -> None:
        services.figure_delete(figure=instance, user=self.request.user)


class OrganisationViewSet(ModelViewSet):
    """The organisations whose staff enter figures. Admins manage them."""

    queryset = Organisation.objects.order_by("name", "id")
    serializer_class = api.OrganisationSerializer
    filterset_class = filters.OrganisationFilter
    hxl_tags = {**COMMON_HXL, "id": "#org+id", "name": "#org+name", "acronym": "#org+acronym"}

    def may_create(self, user: Any) -> bool:
        return permissions.can_manage_accounts(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_accounts(user)

    def save(self, instance: Organisation, data: dict[str, Any]) -> Organisation:
        return services.organisation_save(organisation=instance, user=self.request.user)

    def perform_destroy(self, instance: Organisation) -> None:
        services.organisation_delete(organisation=instance, user=self.request.user)


class UserViewSet(ModelViewSet):
    """Staff accounts: only admins see or manage them."""

    queryset = User.objects.order_by("username", "id")
    serializer_class = api.UserSerializer
    filterset_class = filters.UserFilter
    read_requires_login = True
    hxl_tags = {
        **COMMON_HXL,
        "username": "#contact+username",
        "organisation": "#org+id",
        "role": "#meta+role",
        "is_active": "#status+active",
    }

    def may_read(self, user: Any) -> bool:
        return permissions.can_manage_accounts(user)

    def may_create(self, user: Any) -> bool:
        return permissions.can_manage_accounts(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_accounts(user)

    def save(self, instance: User, data: dict[str, Any]) -> User:
        return services.account_save(account=instance, user=self.request.user, password=data.get("password"))

    def perform_destroy(self, instance: User) -> None:
        services.account_delete(account=instance, user=self.request.user)


class SourceViewSet(ModelViewSet):
    """Who said it. Any member of staff adds a source; coordinators change and delete them."""

    queryset = Source.objects.order_by("name", "id")
    serializer_class = api.SourceSerializer
    filterset_class = filters.SourceFilter
    hxl_tags = {
        **COMMON_HXL,
        "name": "#meta+source",
        "kind": "#meta+source+type",
        "url": "#meta+url",
    }

    def may_create(self, user: Any) -> bool:
        return permissions.is_staff_member(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_sources(user)

    def save(self, instance: Source, data: dict[str, Any]) -> Source:
        return services.source_save(source=instance, user=self.request.user)

    def perform_destroy(self, instance: Source) -> None:
        services.source_delete(source=instance, user=self.request.user)


class SiteViewSet(ModelViewSet):
    """
    Places, in a tree through `parent`. Coordinators manage them. `?format=geojson`
    gives a GeoJSON FeatureCollection. A restricted site's position is coarsened to
    about 10 km for anyone who may not see it exactly, in every format.
    """

    queryset = Site.objects.order_by("name", "id")
    serializer_class = api.SiteSerializer
    filterset_class = filters.SiteFilter
    hxl_tags = {
        **COMMON_HXL,
        "id": "#loc+id",
        "name": "#loc+name",
        "kind": "#loc+type",
        "parent": "#loc+id+parent",
        "latitude": "#geo+lat",
        "longitude": "#geo+lon",
        "timezone": "#meta+timezone",
        "restricted": "#meta+restricted",
        "latest_count.count": "#affected+num",
        "latest_count.count_high": "#affected+num+max",
        "latest_count.qualifier": "#affected+qualifier",
        "latest_count.as_of": "#date+affected",
        "latest_count.source": "#meta+source+id",
    }

    def get_renderers(self) -> list[Any]:
        return [*super().get_renderers(), GeoJSONRenderer()]

    def may_create(self, user: Any) -> bool:
        return permissions.can_manage_places(user)

    def may_change(self, user: Any, obj: Any) -> bool:
        return permissions.can_manage_places(user)

    def lock_for_write(self, obj: Any) -> None:
        # The tree lock, held by every site write, taken before any other lock
        # (services.site_tree_lock). Not the row's: a zone change locks the site's
        # reports before their site, as every report write does (services.site_save).
        services.site_tree_lock()

    def prepare(self, objects: Sequence[Site]) -> None:
        latest = selectors.latest_count_of(site.pk for site in objects)
        for site in objects:
            site.api_latest_count = latest.get(site.pk)  # type: ignore[attr-defined]

    def save(self, instance: Site, data: dict[str, Any]) -> Site:
        # A new shelter is restricted unless the request says `"restricted": false` itself.
        return services.site_save(
            site=instance, user=self.request.user, keep_unrestricted=data.get("restricted") is False
        )

    def perform_destroy(self, instance: Site) -> None:
        services.site_delete(site=instance, user=self.request.user)


class CivilianCountViewSet(FigureViewSet):
    """How many civilians are at a site as of a time, with its qualifier ("approximately", "at least")."""

    queryset = CivilianCount.objects.order_by("-as_of", "-id")
    serializer_class = api.CivilianCountSerializer
    filterset_class = filters.CivilianCountFilter
    hxl_tags = {
        **FIGURE_HXL,
        "site": "#loc+id",
        "as_of": "#date",
        "count": "#affected+num",
        "count_high": "#affected+num+max",
        "qualifier": "#affected+qualifier",
    }


class HostilityReportViewSet(FigureViewSet):
    """
    Hostilities reported at a site. Saving one raises, updates or withdraws the flags
    of the corridor windows it overlaps, within seconds (at once in the embedded
    mode); retracting it (`verification: retracted`) withdraws them.
    """

    queryset = HostilityReport.objects.order_by("-started_at", "-id")
    serializer_class = api.HostilityReportSerializer
    filterset_class = filters.HostilityReportFilter
    hxl_tags = {
        **FIGURE_HXL,
        "site": "#loc+id",
        "kind": "#event+type",
        "started_at": "#date+start",
        "ended_at": "#date+end",
        "ongoing": "#status+ongoing",
        "time_precision": "#meta+precision",
        "description": "#description",
    }

    def get_renderers(self) -> list[Any]:
        return [*super().get_renderers(), GeoJSONRenderer()]

    def geojson_features(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """
        `?format=geojson`: a Point per report at its site, as the reader may see it
        (a restricted site coarsened to about 10 km: `position_precision` says
        `approximate`), with the site's name; flat properties.
        """
        exact = permissions.can_view_exact_location(self.request.user)
        sites = selectors.positions_of((row["site"] for row in rows), exact=exact)
        return [point_feature(row, *sites[row["site"]]) for row in rows]

    def save(self, instance: HostilityReport, data: dict[str, Any]) -> HostilityReport:
        return services.hostility_report_save(report=instance, user=self.request.user)

    def perform_destroy(self, instance: HostilityReport) -> None:
        services.hostility_report_delete(report=instance, user=self.request.user)


class DeletionViewSet(viewsets.GenericViewSet):
    """
    What was deleted, from the audit history, so that a client syncing with
    `updated_since` also learns what to drop: `?updated_since=T` gives the deletions at
    or after T, oldest first; `?resource=counts` those of one list. (Most figures are
    retracted, an update, rather than deleted; flags are never deleted.)
    """

    serializer_class = api.DeletionSerializer
    filter_backends: list[Any] = []
    # Set by tracker/api/urls.py: the public lists, by name, and their models.
    resources: dict[str, type[Any]] = {}
    hxl_tags = {"resource": "#meta+resource", "id": "#meta+id", "deleted_at": "#date+deleted"}

    @extend_schema(
        parameters=[
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description="Deletions at or after this instant."),
            OpenApiParameter("resource", OpenApiTypes.STR, description="Only the deletions from this list."),
        ]
    )
    def list(self, request: Request) -> Response:
        params = DeletionQuery(request.query_params, resources=sorted(self.resources))
        if not params.is_valid():
            raise exceptions.ValidationError(cast("dict[str, Any]", params.errors))
        wanted = params.cleaned_data["resource"]
        models = {name: model for name, model in self.resources.items() if wanted in ("", name)}
        rows = self.paginate_queryset(selectors.deletions(models, since=params.cleaned_data["updated_since"]))
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


class DeletionQuery(forms.Form):
    updated_since = AwareDateTimeFormField(required=False)
    resource = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, resources: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["resource"]).choices = [("", ""), *((name, name) for name in resources)]


# --- Tokens ---------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField()
    password = StrictCharField(trim_whitespace=False, style={"input_type": "password"})
    otp = StrictCharField(
        required=False,
        max_length=20,
        help_text=(
            "The current code of the account's authenticator app (or one of its backup codes). Required for an "
            "account that has two-factor authentication, and for every account that can see restricted sites' "
            "exact positions when the deployment requires it; ignored otherwise."
        ),
    )


class TokenView(knox_views.LoginView):
    """
    Exchange a username and password (and, for an account that has or needs
    two-factor authentication, the current code as `otp`) for an API token
    (`Authorization: Token KEY`). Tokens are stored hashed, expire after
    API_TOKEN_TTL_HOURS without use, are revoked with `auth/token/revoke/` (this one)
    or `auth/token/revoke-all/`, and all of an account's are revoked when its
    password changes. Failed attempts count towards the same lockout as the login
    pages (django-axes): beyond it, 429 until the cool-off has passed, even with the
    right password.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def format_expiry_datetime(self, expiry: Any) -> Any:
        return UTCDateTimeField().to_representation(expiry) if expiry else None

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer(
                "Token",
                {
                    "token": serializers.CharField(help_text="Send as `Authorization: Token <token>`."),
                    "expiry": serializers.DateTimeField(allow_null=True, help_text="When it expires unless used."),
                },
            ),
            400: OpenApiResponse(
                description="Missing fields, a username and password that do not match, or a missing or wrong `otp`."
            ),
            429: OpenApiResponse(
                description="Too many attempts (throttled, or locked out after repeated failures): "
                "wait the seconds in Retry-After."
            ),
        },
        auth=[],
    )
    def post(self, request: Request, format: str | None = None) -> Response:
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        data = credentials.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if getattr(request._request, "axes_locked_out", False):
            raise LockedOut()
        if user is None or not permissions.is_staff_member(user):
            raise exceptions.ValidationError(
                {"non_field_errors": [_("These credentials do not match an active account.")]}
            )
        if accounts.second_factor_due(user):
            self.check_second_factor(request, user, data.get("otp", ""))
        request.user = user
        return super().post(request, format=format)

    def check_second_factor(self, request: Request, user: User, code: str) -> None:
        if not accounts.has_second_factor(user):
            raise exceptions.ValidationError(
                {
                    "otp": [
                        _(
                            "This account must use two-factor authentication: turn it on from the staff pages "
                            "(Two-factor authentication) first, then ask again with its code."
                        )
                    ]
                }
            )
        if not code:
            raise exceptions.ValidationError(
                {"otp": [_("This account uses two-factor authentication: send the code from its app as “otp”.")]}
            )
        if accounts.second_factor_verify(user=user, code=code) is not None:
            return
        user_login_failed.send(
            sender=__name__,
            credentials={"username": user.get_username(), "second_factor": True},
            request=request._request,
        )
        if getattr(request._request, "axes_locked_out", False):
            raise LockedOut()
        raise exceptions.ValidationError({"otp": [_("That code is not right, or it has been used already.")]})


class LockedOut(exceptions.Throttled):
    """Locked out by django-axes: the same words as the login pages, and when to retry."""

    def __init__(self) -> None:
        super().__init__(wait=settings.LOGIN_COOLOFF_MINUTES * 60, detail=accounts.lockout_message())


_revoked = {204: OpenApiResponse(description="Revoked."), 401: OpenApiResponse(description="No valid token.")}


class TokenRevokeView(knox_views.LogoutView):
    """Revoke the token this request is made with."""

    @extend_schema(request=None, responses=_revoked)
    def post(self, request: Request, format: str | None = None) -> Response:
        return super().post(request, format=format)


class TokenRevokeAllView(knox_views.LogoutAllView):
    """Revoke every token of the account this request is made with."""

    @extend_schema(request=None, responses=_revoked)
    def post(self, request: Request, format: str | None = None) -> Response:
        return super().post(request, format=format)


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    """
    Any other address under /api/v1/ that ends in a slash (`sites/1.5/`: the router's
    ids have no dots): the API's 404, in JSON, not the site's HTML page. Without the
    slash, Django's APPEND_SLASH redirect comes first, as for every API address.
    """
    return JsonResponse({"detail": str(exceptions.NotFound.default_detail)}, status=404)
