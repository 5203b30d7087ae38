"""
The site's URLs. Pages live under a language prefix (/en/, /uk/) so that a link says
which language it shows; the admin, the REST API at /api/v1/, /health/ and /metrics
stay unprefixed: their addresses are a contract, not a page.
"""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from tracker import offline
from tracker.health import health
from tracker.metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("tracker.api.urls")),
    # For supervision and monitoring (docs/operations.md): no language, no login.
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    # The installable staff forms (tracker/offline.py): at the root, so the worker's scope is the whole site.
    path("manifest.webmanifest", offline.manifest, name="web_manifest"),
    path("sw.js", offline.service_worker, name="service_worker"),
]

urlpatterns += i18n_patterns(
    path("", include("tracker.page_urls")),
    path("", include("corridors.urls")),
)
