"""
The floor of the API benchmark (bench/api.py): plain Django views that return the same
rows as `GET /api/v1/counts/` and `GET /api/v1/windows/?flagged=...`, byte for byte the
same JSON (the same fields in the same order, the same pagination envelope and the same
`X-Total-Count` and `Link` headers), written by hand with the ORM's `values_list()` and
`JsonResponse`. They run the same number of queries as the API (a count, the page, and
for windows the page's flags, departures and arrivals), behind the same middleware.

What they leave out is what the REST framework adds: content negotiation, the
authentication and permission classes, throttling, the filter set's validation of
every query parameter, serializers and their fields. They accept only `page`,
`page_size` and (windows) `flagged`, and check nothing else: not a sound API, the least
work that gives the same answer.

Served beside the real API by bench/api_settings.py (this module is its URLconf).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, JsonResponse
from django.urls import path
from django.utils import timezone

from corridors.models import Arrival, CorridorWindow, Departure, Flag
from corridors.selectors import combine_qualifiers
from tracker.models import CivilianCount, Site, Verification
from tracker.urls import urlpatterns as project_urlpatterns

ACTIVE = list(Flag.ACTIVE_STATUSES)
# What the API's JSON renderer does: compact, UTF-8.
DUMPS = {"ensure_ascii": False, "separators": (",", ":")}


def utc(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with `Z` (values come from PostgreSQL in UTC)."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _with_page(url: str, page: int) -> str:
    """The URL with `page` set (dropped for page 1), query parameters sorted: the API's links."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if page == 1:
        query.pop("page", None)
    else:
        query["page"] = [str(page)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(sorted(query.items()), doseq=True), ""))


def paginate(request, queryset, columns):
    """The page's rows as tuples of `columns`, and the envelope around them, as the API's pagination gives it."""
    size = int(request.GET.get("page_size", 50))
    page = int(request.GET.get("page", 1))
    total = queryset.count()
    last = max(1, -(-total // size))
    if not 1 <= page <= last:
        raise Http404
    rows = list(queryset.values_list(*columns)[(page - 1) * size : page * size])
    url = request.build_absolute_uri()
    envelope = {
        "count": total,
        "next": _with_page(url, page + 1) if page < last else None,
        "previous": _with_page(url, page - 1) if page > 1 else None,
    }
    return rows, envelope


def respond(envelope: dict, results: list) -> JsonResponse:
    response = JsonResponse({**envelope, "results": results}, encoder=DjangoJSONEncoder, json_dumps_params=DUMPS)
    links = [
        f'<{url}>; rel="{rel}"' for rel, url in (("next", envelope["next"]), ("prev", envelope["previous"])) if url
    ]
    if links:
        response["Link"] = ", ".join(links)
    response["X-Total-Count"] = str(envelope["count"])
    return response


COUNT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "site_id",
    "as_of",
    "count",
    "count_high",
    "qualifier",
    "source_id",
    "reported_at",
    "verification",
    "organisation_id",
    "created_by_id",
)


def counts(request):
    rows, envelope = paginate(request, CivilianCount.objects.order_by("-as_of", "-id"), COUNT_COLUMNS)
    results = [
        {
            "id": row[0],
            "created_at": utc(row[1]),
            "updated_at": utc(row[2]),
            "site": row[3],
            "as_of": utc(row[4]),
            "count": row[5],
            "count_high": row[6],
            "qualifier": row[7],
            "source": row[8],
            "reported_at": utc(row[9]),
            "verification": row[10],
            "organisation": row[11],
            "created_by": row[12],
        }
        for row in rows
    ]
    return respond(envelope, results)


WINDOW_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "corridor_id",
    "starts_at",
    "ends_at",
    "cancelled",
    "corridor__origin__timezone",
)


def _status(cancelled: bool, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> str:
    if cancelled:
        return "cancelled"
    if now < starts_at:
        return "scheduled"
    return "open" if now < ends_at else "closed"


def windows(request):
    now = timezone.now()
    queryset = CorridorWindow.objects.order_by("starts_at", "id")
    flagged = request.GET.get("flagged")
    if flagged is not None:
        active = Exists(Flag.objects.filter(window=OuterRef("pk"), status__in=ACTIVE))
        queryset = queryset.filter(active) if flagged == "true" else queryset.exclude(active)
    rows, envelope = paginate(request, queryset, WINDOW_COLUMNS)
    ids = [row[0] for row in rows]
    open_flags = dict(
        Flag.objects.filter(window_id__in=ids, status__in=ACTIVE)
        .values("window_id")
        .annotate(n=Count("id"))
        .values_list("window_id", "n")
    )
    departed: dict[int, list] = {}
    for window, count, qualifier in (
        Departure.objects.filter(window_id__in=ids)
        .exclude(verification=Verification.RETRACTED)
        .values_list("window_id", "count", "qualifier")
    ):
        departed.setdefault(window, []).append((count, qualifier))
    arrived: dict[int, list] = {}
    for window, count, qualifier, kind in (
        Arrival.objects.filter(window_id__in=ids)
        .exclude(verification=Verification.RETRACTED)
        .values_list("window_id", "count", "qualifier", "destination__kind")
    ):
        arrived.setdefault(window, []).append((count, qualifier, kind))
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    results = []
    for pk, created, updated, corridor, starts_at, ends_at, cancelled, zone_name in rows:
        zone = zones.get(zone_name) or zones.setdefault(zone_name, zoneinfo.ZoneInfo(zone_name))
        n_flags = open_flags.get(pk, 0)
        dep, arr = departed.get(pk), arrived.get(pk)
        results.append(
            {
                "id": pk,
                "created_at": utc(created),
                "updated_at": utc(updated),
                "corridor": corridor,
                "starts_at": utc(starts_at),
                "ends_at": utc(ends_at),
                "local_starts_at": starts_at.astimezone(zone).isoformat(),
                "local_ends_at": ends_at.astimezone(zone).isoformat(),
                "status": _status(cancelled, starts_at, ends_at, now),
                "cancelled": cancelled,
                "flagged": n_flags > 0,
                "open_flags": n_flags,
                "departed": sum(c for c, _ in dep) if dep else None,
                "departed_qualifier": combine_qualifiers(q for _, q in dep) if dep else None,
                "arrived": sum(c for c, _, _ in arr) if arr else None,
                "arrived_qualifier": combine_qualifiers(q for _, q, _ in arr) if arr else None,
                "arrived_counts_crossings": any(k == Site.Kind.CROSSING for _, _, k in arr) if arr else None,
            }
        )
    return respond(envelope, results)


urlpatterns = [
    path("floor/api/v1/counts/", counts),
    path("floor/api/v1/windows/", windows),
    *project_urlpatterns,
]
