"""
The site's URLs. Pages live under a language prefix (/en/, /uk/) so that a link says
which language it shows; the admin, the REST API at /api/v1/, /health/ and /metrics
stay unprefixed: their addresses are a contract, not a page.
"""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from tracker.health import health
from tracker.metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("tracker.api.urls")),
    # For supervision and monitoring (docs/operations.md): no language, no login.
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
]

urlpatterns += i18n_patterns(
    path("", include("tracker.page_urls")),
    path("", include("corridors.urls")),
)
