"""
The public dashboard: the overview, a site's page and the map. No login; nothing here
writes. What every visitor sees is kept in the cache (tracker/pagecache.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from corridors import selectors as corridor_selectors
from corridors.models import Corridor
from tracker import charts, geo, pagecache, permissions, selectors
from tracker.models import Site
from tracker.pagecache import Rendered
from tracker.wording import calendar, figure, number

# The map page's tables, a page at a time: complete without JavaScript, and light at any size.
MAP_TABLE_ROWS = 100


def _render_overview(request: HttpRequest, template: str) -> Rendered:
    now = timezone.now()
    corridors = corridor_selectors.corridors_for_overview(now, totals=False)
    windows = [window for summary in corridors for window in summary.windows]
    comparisons = corridor_selectors.windows_with_movements(totals=False)
    corridor_selectors.attach_totals([*windows, *comparisons])  # both in one go: two queries, not four
    context = {
        "now": now,
        # What the date tags read of the clock: part of the key of each kept fragment.
        "calendar": calendar(now),
        "corridors": corridors,
        "sites": selectors.sites_with_counts(),
        "movements": corridor_selectors.recent_movements(),
        "comparisons": comparisons,
        "hostilities": list(selectors.recent_hostilities()),
        # Beside "Data as of <now>": figures from May 2022 must not read as current.
        "latest_figure_at": max(
            (t for t in (selectors.latest_figure_time(), corridor_selectors.latest_movement_time()) if t is not None),
            default=None,
        ),
    }
    return Rendered(render(request, template, context), changes_at=corridor_selectors.next_window_change(windows, now))


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    return pagecache.serve(request, "overview", lambda: _render_overview(request, "tracker/overview.html"))


@require_safe
def overview_data(request: HttpRequest) -> HttpResponse:
    """The overview's data alone: what the page's script fetches every minute to refresh it in place."""
    return pagecache.serve(request, "overview-data", lambda: _render_overview(request, "tracker/_overview_data.html"))


@require_safe
def site_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return pagecache.serve(request, f"site:{pk}", lambda: _render_site(request, pk))


def _render_site(request: HttpRequest, pk: int) -> Rendered:
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
        "narrow_chart": charts.count_chart(history, width=charts.NARROW_WIDTH),
        "children": children,
        "child_counts": selectors.latest_counts(site_ids=[c.pk for c in children]),
        "hostilities": selectors.recent_hostilities(limit=20, site_ids=[site.pk, *selectors.site_descendant_ids(site)]),
        "now": timezone.now(),
    }
    return Rendered(render(request, "tracker/site.html", context))


def _page_number(request: HttpRequest, name: str) -> int:
    """A page number from the query string (1 when absent); 404 for anything but a whole number from 1."""
    raw = request.GET.get(name, "1")
    if not raw.isdigit() or int(raw) < 1:
        raise Http404
    return int(raw)


def _page(paginator: Paginator, number: int) -> Page:
    try:
        return paginator.page(number)
    except (EmptyPage, PageNotAnInteger):
        raise Http404 from None


@require_safe
def map_page(request: HttpRequest) -> HttpResponse:
    numbers = {"page": _page_number(request, "page"), "corridors": _page_number(request, "corridors")}
    params = {name: str(n) for name, n in numbers.items() if n != 1}
    return pagecache.serve(request, "map", lambda: _render_map(request, numbers), params=params)


def _render_map(request: HttpRequest, numbers: Mapping[str, int]) -> Rendered:
    exact = permissions.can_view_exact_location(request.user)
    sites = _page(Paginator(Site.objects.order_by("name", "id"), MAP_TABLE_ROWS), numbers["page"])
    corridors = _page(
        Paginator(Corridor.objects.select_related("origin", "destination").order_by("name", "id"), MAP_TABLE_ROWS),
        numbers["corridors"],
    )
    paths = corridor_selectors.corridor_paths(cast("Sequence[Corridor]", corridors.object_list))
    counts = selectors.latest_count_of(site.pk for site in sites)
    bounds = selectors.sites_bounds(exact=exact)
    # The JSON of one tile, as a template the script fills in ({z}/{x}/{y}, as tile servers name them).
    sites_url = reverse("tracker:map_tile", args=[0, 0, 0]).removesuffix("0/0/0/") + "{z}/{x}/{y}/"
    context = {
        "sites": [(site, selectors.position_of(site, exact=exact), counts.get(site.pk)) for site in sites],
        "sites_page": sites,
        "sites_links": _page_links(request, numbers, "page", sites, "map-sites-heading"),
        "corridors": [
            (c, [(s, selectors.position_of(s, exact=exact)) for s in paths[c.pk]]) for c in corridors.object_list
        ],
        "corridors_page": corridors,
        "corridors_links": _page_links(request, numbers, "corridors", corridors, "map-corridors-heading"),
        "bounds": ",".join(f"{edge:.6f}" for edge in bounds) if bounds else "",
        "sites_url": sites_url,
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "now": timezone.now(),
    }
    return Rendered(render(request, "tracker/map.html", context))


def _page_links(
    request: HttpRequest, numbers: Mapping[str, int], name: str, page: Page, anchor: str
) -> dict[str, str | None]:
    """First, previous, next and last page of one of the map page's tables, the other's page kept."""

    def link(number: int) -> str:
        query = pagecache.canonical_query({k: str(n) for k, n in {**numbers, name: number}.items() if n != 1})
        return f"{request.path}{'?' + query if query else ''}#{anchor}"

    last = page.paginator.num_pages
    return {
        "first": link(1) if page.number > 2 else None,
        "previous": link(page.number - 1) if page.has_previous() else None,
        "next": link(page.number + 1) if page.has_next() else None,
        "last": link(last) if page.number < last - 1 else None,
    }


@require_safe
def map_tile(request: HttpRequest, zoom: int, x: int, y: int) -> HttpResponse:
    """The sites in one tile of the map (JSON): one by one, or in clusters where there are many."""
    if not geo.tile_exists(zoom, x, y):
        raise Http404
    return pagecache.serve(request, f"map-tile:{zoom}/{x}/{y}", lambda: _render_map_tile(request, zoom, x, y))


def _render_map_tile(request: HttpRequest, zoom: int, x: int, y: int) -> Rendered:
    tile = selectors.map_tile(zoom, x, y, exact=permissions.can_view_exact_location(request.user))
    return Rendered(
        JsonResponse(
            {
                "sites": [
                    {
                        "name": site.name,
                        "url": reverse("tracker:site", args=[site.pk]),
                        "lat": site.position.latitude,
                        "lon": site.position.longitude,
                        "approximate": site.position.approximate,
                        "count": figure(site.count) if site.count else None,
                    }
                    for site in tile.sites
                ],
                "clusters": [
                    {
                        "lat": c.latitude,
                        "lon": c.longitude,
                        "sites": c.sites,
                        "label": ngettext(
                            "%(n)s site here: zoom in to see it", "%(n)s sites here: zoom in to see them", c.sites
                        )
                        % {"n": number(c.sites)},
                        "south": c.south,
                        "west": c.west,
                        "north": c.north,
                        "east": c.east,
                    }
                    for c in tile.clusters
                ],
            }
        )
    )


@require_safe
def map_corridors(request: HttpRequest) -> HttpResponse:
    """Every corridor's path through the positions the viewer may see (JSON), for the map."""
    return pagecache.serve(request, "map-corridors", lambda: _render_map_corridors(request))


def _render_map_corridors(request: HttpRequest) -> Rendered:
    exact = permissions.can_view_exact_location(request.user)
    corridors = list(Corridor.objects.select_related("origin", "destination").order_by("name", "id"))
    paths = corridor_selectors.corridor_paths(corridors)
    rows: list[dict[str, Any]] = []
    for corridor in corridors:
        positions = [selectors.position_of(site, exact=exact) for site in paths[corridor.pk]]
        rows.append(
            {
                "name": corridor.name,
                "url": reverse("corridors:corridor", args=[corridor.pk]),
                "path": [[p.latitude, p.longitude] for p in positions],
            }
        )
    return Rendered(JsonResponse({"corridors": rows}))


def _position(request: HttpRequest, site: Site) -> selectors.Position:
    """Where the page may show the site: exact, or coarsened to about 10 km for a restricted one."""
    return selectors.position_of(site, exact=permissions.can_view_exact_location(request.user))
