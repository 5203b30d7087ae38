"""
Read queries for the dashboard, the staff pages and the API: the facts on the ground.

Each function runs a fixed number of queries whatever the amount of data (the page
tests count them), and returns model instances or small plain records for templates.
Nothing here writes; writes are in services.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connection
from django.db.models import F, Max, Min, Model, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber

from tracker import geo, secrecy
from tracker.models import CivilianCount, Figure, HostilityReport, LatestCount, Site, Verification

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

F_co = TypeVar("F_co", bound=Figure)

# Two sources' counts of one site disagree when their latest figures differ and were
# given within this long of each other; an older figure is history, not a rival.
DISAGREEMENT_WINDOW = dt.timedelta(hours=48)


@dataclass
class SiteCounts:
    """A site's latest count, and the latest count of every other source given around the same time."""

    site: Site
    latest: CivilianCount
    others: list[CivilianCount] = field(default_factory=list)

    @property
    def disagree(self) -> bool:
        mine = (self.latest.count, self.latest.count_high)
        return any((other.count, other.count_high) != mine for other in self.others)


def latest_count_rows() -> QuerySet[Any]:
    """
    Rows of (site id, count id, count, as_of): each site's latest count that is not
    retracted, ranked from every count there is. What LatestCount keeps; this
    recomputes it from scratch (services.site_latest_counts_rebuild, and the tests).
    """
    return (
        CivilianCount.objects.exclude(verification=Verification.RETRACTED)
        .annotate(rank=Window(RowNumber(), partition_by=[F("site_id")], order_by=[F("as_of").desc(), F("id").desc()]))
        .filter(rank=1)
        .order_by("site_id")
        .values_list("site_id", "id", "count", "as_of")
    )


def latest_count_of(site_ids: Iterable[int]) -> dict[int, CivilianCount]:
    """The latest count (not retracted) of each of these sites that has one. One query."""
    rows = LatestCount.objects.filter(site_id__in=list(site_ids)).select_related(
        "civilian_count__source", "civilian_count__organisation"
    )
    return {row.site_id: row.civilian_count for row in rows}


def latest_counts(
    *, site_ids: Iterable[int], latest_as_of: Mapping[int, dt.datetime] | None = None
) -> dict[int, SiteCounts]:
    """
    The latest count of each of these sites, with the other sources' latest counts from
    within DISAGREEMENT_WINDOW of it, so that a page shows both figures where sources
    differ. Retracted counts are left out: their source withdrew them. Two queries (one
    when the caller read `latest_as_of`, the time of each site's latest count, from
    LatestCount): each site's counts are read from where its window starts, by the
    (site, as_of) index, however long its history.
    """
    if latest_as_of is None:
        latest_as_of = dict(LatestCount.objects.filter(site_id__in=list(site_ids)).values_list("site_id", "as_of"))
    if not latest_as_of:
        return {}
    # One range per site (a join with LatestCount was planned as a scan of every count of
    # these sites, which grows with their history).
    in_window = Q()
    for site_id, as_of in latest_as_of.items():
        in_window |= Q(site_id=site_id, as_of__gte=as_of - DISAGREEMENT_WINDOW)
    per_source = (
        CivilianCount.objects.filter(in_window)
        .exclude(verification=Verification.RETRACTED)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("site_id"), F("source_id")], order_by=[F("as_of").desc(), F("id").desc()]
            )
        )
        .filter(rank=1)
        .select_related("site", "source", "organisation")
        .order_by("site_id", "-as_of", "-id")
    )
    result: dict[int, SiteCounts] = {}
    for count in per_source:
        summary = result.get(count.site_id)
        if summary is None:
            result[count.site_id] = SiteCounts(site=count.site, latest=count)
        elif summary.latest.as_of - count.as_of <= DISAGREEMENT_WINDOW:
            summary.others.append(count)
    return result


def sites_with_counts(*, limit: int = 50) -> list[SiteCounts]:
    """Sites that have a count, the largest latest count first (where most people are). Two queries."""
    largest = list(
        LatestCount.objects.order_by("-count", "site__name", "site_id").values_list("site_id", "as_of")[:limit]
    )
    summaries = latest_counts(site_ids=[pk for pk, _ in largest], latest_as_of=dict(largest))
    return [summaries[pk] for pk, _ in largest if pk in summaries]


def latest_figure_time() -> dt.datetime | None:
    """
    The time of the newest count or hostility report (what it is about, not when it was
    typed), retracted ones aside: the overview says how recent its figures are. Two queries.
    """
    live = ~Q(verification=Verification.RETRACTED)
    times = [
        CivilianCount.objects.filter(live).aggregate(t=Max("as_of"))["t"],
        *HostilityReport.objects.filter(live).aggregate(s=Max("started_at"), e=Max("ended_at")).values(),
    ]
    return max((t for t in times if t is not None), default=None)


def recent_hostilities(*, limit: int = 10, site_ids: Iterable[int] | None = None) -> QuerySet[HostilityReport]:
    """The latest hostility reports by when they started, whatever their verification (shown with them)."""
    qs = HostilityReport.objects.select_related("site", "source", "organisation").order_by("-started_at", "-id")
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return qs[:limit]


def hostilities_for_feed(site_ids: Iterable[int], *, limit: int) -> QuerySet[HostilityReport]:
    """The reports at these sites whose latest change is the newest: a feed shows edits as updated entries."""
    return (
        HostilityReport.objects.select_related("site", "source")
        .filter(site_id__in=list(site_ids))
        .order_by("-updated_at", "-id")[:limit]
    )


def site_descendant_ids(site: Site) -> list[int]:
    """
    The ids of a site's sub-sites at every depth: one recursive query (PostgreSQL and
    SQLite alike), reading only the sites below this one. UNION, not UNION ALL: a
    cycle in the tree, which Site.clean() refuses, could not make it loop.
    """
    table = Site._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE below(id) AS (
                SELECT id FROM {table} WHERE parent_id = %s
                UNION
                SELECT child.id FROM {table} child JOIN below ON child.parent_id = below.id
            )
            SELECT id FROM below WHERE id <> %s ORDER BY id
            """,  # noqa: S608 - the table name is the model's own, not input
            [site.pk, site.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def unrestricted_sites_inside_restricted() -> list[int]:
    """
    The ids of the sites inside a restricted one that are not restricted themselves,
    which the services never leave (services.site_save): one recursive query over the
    sites below the restricted ones, on PostgreSQL and SQLite alike.
    """
    table = Site._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE inside(id) AS (
                SELECT child.id FROM {table} child JOIN {table} parent ON child.parent_id = parent.id
                WHERE parent.restricted = %s
                UNION
                SELECT child.id FROM {table} child JOIN inside ON child.parent_id = inside.id
            )
            SELECT id FROM {table} WHERE id IN (SELECT id FROM inside) AND restricted = %s ORDER BY id
            """,  # noqa: S608 - the table name is the model's own, not input
            [True, False],
        )
        return [row[0] for row in cursor.fetchall()]


def site_children(site: Site) -> QuerySet[Site]:
    return Site.objects.filter(parent=site).order_by("name")


def count_history(site: Site, *, limit: int = 100) -> list[CivilianCount]:
    """A site's counts, oldest first: the latest `limit` of them."""
    latest = list(
        CivilianCount.objects.filter(site=site)
        .select_related("source", "organisation")
        .order_by("-as_of", "-id")[:limit]
    )
    return latest[::-1]


def site_with_ancestors(pk: int) -> Site:
    """The site and its parents, fetched in one query (the tree is a few levels deep)."""
    return Site.objects.select_related("parent__parent__parent").get(pk=pk)


def figures_entered_by(user_id: int, models: Iterable[type[Figure]], *, limit: int = 50) -> list[Figure]:
    """A person's latest figures of these kinds (counts, reports, departures, ...), newest entry first."""
    rows: list[Figure] = []
    for model in models:
        related = [f.name for f in model._meta.concrete_fields if f.is_relation and f.name not in ("created_by",)]
        rows.extend(
            model._default_manager.filter(created_by_id=user_id)
            .select_related(*related)
            .order_by("-created_at")[:limit]
        )
    return sorted(rows, key=lambda f: f.created_at, reverse=True)[:limit]


PLACES = ("site", "origin", "destination")


def last_entries(user_id: int, models: Iterable[type[Figure]]) -> list[Figure]:
    """
    The person's latest figure of each of these kinds, newest first, with its places:
    the defaults (site, source) of their next one, whichever quick form they used last.
    One query per kind.
    """
    found = []
    for model in models:
        places = [name for name in PLACES if any(f.name == name for f in model._meta.concrete_fields)]
        last = (
            model._default_manager.filter(created_by_id=user_id)
            .select_related(*places, "source")
            .order_by("-created_at", "-id")
            .first()
        )
        if last is not None:
            found.append(last)
    return sorted(found, key=lambda figure: (figure.created_at, figure.pk), reverse=True)


@dataclass(frozen=True)
class Position:
    """Coordinates a page may show; `approximate` when coarsened to protect a restricted site."""

    latitude: float
    longitude: float
    approximate: bool


def position_of(site: Site, *, exact: bool) -> Position:
    """
    Where a page may show the site: a restricted one coarsened to about 10 km, unless
    `exact` (the viewer may see it: tracker.permissions.can_view_exact_location).
    """
    if site.restricted and exact:
        secrecy.shown([site])
        return Position(site.latitude, site.longitude, approximate=False)
    latitude, longitude = site.public_coordinates()
    return Position(latitude, longitude, approximate=site.restricted)


def positions_of(site_ids: Iterable[int], *, exact: bool) -> dict[int, tuple[str, Position]]:
    """
    The name and the position a reader may see of each of these sites, by id: one
    query. A restricted site's is coarsened unless `exact` (position_of), and an exact
    one shown is recorded (tracker/secrecy.py).
    """
    sites = Site.objects.filter(pk__in=set(site_ids)).only("pk", "name", "latitude", "longitude", "restricted")
    return {site.pk: (site.name, position_of(site, exact=exact)) for site in sites}


def sites_bounds(*, exact: bool) -> tuple[float, float, float, float] | None:
    """
    The (south, west, north, east) around every site's position as the viewer may see
    it; None without sites. One query. Coarsening rounds, so it never moves one point
    past another: the coarsened extremes of the restricted sites are the extremes of
    their coarsened positions, and the bounds tell nothing finer than those.
    """
    edges = ("south", "west", "north", "east")
    groups = {"all": Q()} if exact else {"shown": Q(restricted=False), "hidden": Q(restricted=True)}
    aggregates: dict[str, Min | Max] = {}
    for group, where in groups.items():
        aggregates[f"{group}_south"] = Min("latitude", filter=where)
        aggregates[f"{group}_west"] = Min("longitude", filter=where)
        aggregates[f"{group}_north"] = Max("latitude", filter=where)
        aggregates[f"{group}_east"] = Max("longitude", filter=where)
    found = Site.objects.aggregate(**aggregates)
    corners: list[tuple[float, float]] = []
    for group in groups:
        south, west, north, east = (found[f"{group}_{edge}"] for edge in edges)
        if south is None:
            continue
        if group == "hidden":
            (south, west), (north, east) = geo.coarsen(south, west), geo.coarsen(north, east)
        corners += [(south, west), (north, east)]
    if not corners:
        return None
    latitudes, longitudes = [c[0] for c in corners], [c[1] for c in corners]
    south, west, north, east = min(latitudes), min(longitudes), max(latitudes), max(longitudes)
    if exact:
        # An edge may be a restricted site's exact latitude or longitude.
        edge = Q(latitude__in=(south, north)) | Q(longitude__in=(west, east))
        secrecy.shown_ids(Site.objects.filter(edge, restricted=True).values_list("pk", flat=True))
    return south, west, north, east


# A tile of the map lists its sites one by one up to this many; more are grouped by
# quarter tile (about 64 pixels across) into clusters.
MARKERS_PER_TILE = 40
# From this zoom on (tiles of about 10 km), a tile's sites are listed however many:
# grouping further would only hide restricted sites that share a coarsened position.
CLUSTER_BELOW_ZOOM = 12


@dataclass(frozen=True)
class MapSite:
    pk: int
    name: str
    position: Position
    count: CivilianCount | None


@dataclass(frozen=True)
class Cluster:
    """Sites that share a quarter tile: how many, their mean position and the box around them."""

    latitude: float
    longitude: float
    sites: int
    south: float
    west: float
    north: float
    east: float


@dataclass
class MapTile:
    sites: list[MapSite] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)


def map_tile(zoom: int, x: int, y: int, *, exact: bool) -> MapTile:
    """
    The sites whose position, as the viewer may see it, falls in this tile of the map:
    one by one (with their latest counts), or in clusters where there are many. Two
    queries at most, whatever the number of sites.

    The database narrows the search by the exact coordinates, with a margin wider than
    coarsening moves a point; which sites are in the tile is then decided on the
    positions the viewer may see. So the answer is the same wherever in its coarse cell
    a restricted site really is.
    """
    south, west, north, east = geo.tile_bounds(zoom, x, y)
    margin = 2 * geo.COARSE_STEP_DEGREES
    rows = (
        Site.objects.filter(
            latitude__gte=south - margin,
            latitude__lte=north + margin,
            longitude__gte=west - margin,
            longitude__lte=east + margin,
        )
        .order_by("name", "id")
        .values_list("pk", "name", "latitude", "longitude", "restricted")
    )
    placed = []
    shown: list[int] = []
    for pk, name, latitude, longitude, restricted in rows:
        approximate = restricted and not exact
        if approximate:
            latitude, longitude = geo.coarsen(latitude, longitude)
        tile_x, tile_y = geo.tile_xy(latitude, longitude, zoom)
        if (int(tile_x), int(tile_y)) == (x, y):
            placed.append((pk, name, Position(latitude, longitude, approximate), tile_x, tile_y))
            if restricted and exact:
                shown.append(pk)
    # A cluster's mean and box are made of the exact positions as much as a marker is.
    secrecy.shown_ids(shown)
    if len(placed) <= MARKERS_PER_TILE or zoom >= CLUSTER_BELOW_ZOOM:
        counts = latest_count_of(pk for pk, *_ in placed)
        return MapTile(sites=[MapSite(pk, name, position, counts.get(pk)) for pk, name, position, _, _ in placed])
    cells: dict[tuple[int, int], list[Position]] = {}
    for _pk, _name, position, tile_x, tile_y in placed:
        cells.setdefault((int(tile_x * 4), int(tile_y * 4)), []).append(position)
    clusters = []
    for cell in sorted(cells):
        positions = cells[cell]
        latitudes, longitudes = [p.latitude for p in positions], [p.longitude for p in positions]
        clusters.append(
            Cluster(
                latitude=sum(latitudes) / len(latitudes),
                longitude=sum(longitudes) / len(longitudes),
                sites=len(positions),
                south=min(latitudes),
                west=min(longitudes),
                north=max(latitudes),
                east=max(longitudes),
            )
        )
    return MapTile(clusters=clusters)


def deletions(models: Mapping[str, type[Model]], *, since: dt.datetime | None = None) -> QuerySet[Any]:
    """
    Every deletion of these audited models (by resource name), from their audit
    history: rows of `resource`, `id` (of the deleted object) and `history_date`,
    oldest first. One query (a UNION ALL of the history tables).
    """
    parts = []
    for resource, model in models.items():
        history = model.history.filter(history_type="-")  # type: ignore[attr-defined]
        if since is not None:
            history = history.filter(history_date__gte=since)
        parts.append(history.annotate(resource=Value(resource)).values("resource", "id", "history_date").order_by())
    first, *rest = parts
    return first.union(*rest, all=True).order_by("history_date", "resource", "id")
