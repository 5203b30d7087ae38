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

from django.db.models import F, Model, QuerySet, Value, Window
from django.db.models.functions import RowNumber

from tracker.models import CivilianCount, Figure, HostilityReport, Site, Verification

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


def latest_counts(*, site_ids: Iterable[int] | None = None) -> dict[int, SiteCounts]:
    """
    The latest count of each site, with the other sources' latest counts from within
    DISAGREEMENT_WINDOW of it, so that a page shows both figures where sources differ.
    Retracted counts are left out: their source withdrew them. One query.
    """
    qs = CivilianCount.objects.exclude(verification=Verification.RETRACTED)
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    per_source = (
        qs.annotate(
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
    """Sites that have a count, the largest latest count first (where most people are)."""
    summaries = sorted(latest_counts().values(), key=lambda s: (-s.latest.count, s.site.name))
    return summaries[:limit]


def recent_hostilities(*, limit: int = 10, site_ids: Iterable[int] | None = None) -> QuerySet[HostilityReport]:
    """The latest hostility reports by when they started, whatever their verification (shown with them)."""
    qs = HostilityReport.objects.select_related("site", "source", "organisation").order_by("-started_at", "-id")
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return qs[:limit]


def site_descendant_ids(site: Site) -> list[int]:
    """The ids of a site's sub-sites at every depth (one query over the whole, shallow, tree)."""
    children: dict[int, list[int]] = {}
    for pk, parent_id in Site.objects.filter(parent__isnull=False).values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found: list[int] = []
    todo = list(children.get(site.pk, []))
    while todo:
        pk = todo.pop()
        if pk in found or pk == site.pk:
            continue
        found.append(pk)
        todo.extend(children.get(pk, []))
    return found


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


def last_entry(model: type[F_co], user_id: int) -> F_co | None:
    """The person's latest figure of this kind: the defaults (site, source) of their next one."""
    return model._default_manager.filter(created_by_id=user_id).order_by("-created_at", "-id").first()


@dataclass(frozen=True)
class Position:
    """Coordinates a page may show; `approximate` when coarsened to protect a restricted site."""

    latitude: float
    longitude: float
    approximate: bool


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
