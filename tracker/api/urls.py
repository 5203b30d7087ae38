"""The REST API, version 1, under /api/v1/ (docs/api.md)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from corridors.api import views as corridors
from corridors.api.record import SourceRecordView
from tracker.api import downloads, imports
from tracker.api import views as tracker

app_name = "api"

router = DefaultRouter()
router.register("organisations", tracker.OrganisationViewSet, basename="organisation")
router.register("users", tracker.UserViewSet, basename="user")
router.register("sources", tracker.SourceViewSet, basename="source")
router.register("sites", tracker.SiteViewSet, basename="site")
router.register("counts", tracker.CivilianCountViewSet, basename="count")
router.register("corridors", corridors.CorridorViewSet, basename="corridor")
router.register("windows", corridors.WindowViewSet, basename="window")
router.register("hostilities", tracker.HostilityReportViewSet, basename="hostility")
router.register("departures", corridors.DepartureViewSet, basename="departure")
router.register("arrivals", corridors.ArrivalViewSet, basename="arrival")
router.register("flags", corridors.FlagViewSet, basename="flag")
router.register("flag-events", corridors.FlagEventViewSet, basename="flag-event")
router.register("webhooks", corridors.WebhookViewSet, basename="webhook")
router.register("alerts", corridors.AlertSubscriptionViewSet, basename="alert")
# Every public list's deletions (accounts are not public; flags are never deleted).
tracker.DeletionViewSet.resources = {
    prefix: viewset.queryset.model  # type: ignore[attr-defined]  # each one a ReadViewSet, with a queryset
    for prefix, viewset, _name in router.registry
    if prefix not in ("users", "flags", "flag-events", "webhooks", "alerts")
}
router.register("deletions", tracker.DeletionViewSet, basename="deletion")
router.register("imports", imports.ImportViewSet, basename="import")

urlpatterns = [
    path("auth/token/", tracker.TokenView.as_view(), name="token"),
    path("auth/token/revoke/", tracker.TokenRevokeView.as_view(), name="token_revoke"),
    path("auth/token/revoke-all/", tracker.TokenRevokeAllView.as_view(), name="token_revoke_all"),
    path("downloads/", downloads.DownloadListView.as_view(), name="download-list"),
    path("downloads/<str:name>", downloads.DownloadView.as_view(), name="download"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="tracker/api/swagger_ui.html"),
        name="docs",
    ),
    path("sources/<int:pk>/record/", SourceRecordView.as_view(), name="source-record"),
    *router.urls,
    re_path(r"^[\s\S]*/$", tracker.not_found),  # any character, a line break too
]
