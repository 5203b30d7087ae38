"""The public dashboard: the overview, a site's page and the map. No login; nothing here writes."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from corridors import selectors as corridor_selectors
from corridors.models import Corridor
from tracker import charts, permissions, selectors
from tracker.models import Site


def _overview_data() -> dict[str, object]:
    now = timezone.now()
    return {
        "now": now,
        "corridors": corridor_selectors.corridors_for_overview(now),
        "sites": selectors.sites_with_counts(),
        "movements": corridor_selectors.recent_movements(),
        "comparisons": corridor_selectors.windows_with_movements(),
        "hostilities": selectors.recent_hostilities(),
    }


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/overview.html", _overview_data())


@require_safe
def overview_data(request: HttpRequest) -> HttpResponse:
    """The overview's data alone: what the page's script fetches every minute to refresh it in place."""
    return render(request, "tracker/_overview_data.html", _overview_data())


@require_safe
def site_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        site = selectors.site_with_ancestors(pk)
    except Site.DoesNotExist:
        raise Http404 from None
    history = selectors.count_history(site)
    children = list(selectors.site_children(site))
    context = {
        "site": site,
        "position": _position(request, site),
        "history": history,
        "chart": charts.count_chart(history),
        "children": children,
        "child_counts": selectors.latest_counts(site_ids=[c.pk for c in children]),
        "hostilities": selectors.recent_hostilities(limit=20, site_ids=[site.pk, *selectors.site_descendant_ids(site)]),
        "now": timezone.now(),
    }
    return render(request, "tracker/site.html", context)


@require_safe
def map_page(request: HttpRequest) -> HttpResponse:
    sites = list(Site.objects.select_related("parent").order_by("name", "id"))
    corridors = list(Corridor.objects.select_related("origin", "destination").order_by("name", "id"))
    paths = corridor_selectors.corridor_paths(corridors)
    positions = {site.pk: _position(request, site) for site in sites}
    context = {
        "sites": [(site, positions[site.pk]) for site in sites],
        "counts": selectors.latest_counts(),
        "corridors": [(c, [(s, positions[s.pk]) for s in paths[c.pk]]) for c in corridors],
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "now": timezone.now(),
    }
    return render(request, "tracker/map.html", context)


def _position(request: HttpRequest, site: Site) -> selectors.Position:
    """Where the page may show the site: exact, or coarsened to about 10 km for a restricted one."""
    if site.restricted and permissions.can_view_exact_location(request.user):
        return selectors.Position(site.latitude, site.longitude, approximate=False)
    latitude, longitude = site.public_coordinates()
    return selectors.Position(latitude, longitude, approximate=site.restricted)
