"""
`GET /api/v1/sources/{id}/record/`: an announcing source's ceasefire record
(corridors/record.py), as JSON. Public, read-only; the reviewer of a flag is named by
organisation, never by person, whoever asks: the record is one document for everyone.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from corridors import record as ceasefire_record
from corridors.models import Flag
from corridors.record import CorridorRecord, Totals, WindowRecord, reviewer_name
from tracker.localtime import zone
from tracker.models import Source


def _instant(value: Any, zone_name: str | None = None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(zone(zone_name)) if zone_name else value).isoformat()


def flag_data(flag: Flag) -> dict[str, Any]:
    report = flag.hostility
    return {
        "flag": flag.pk,
        "certainty": flag.certainty,
        "counts": flag.status in Flag.ACTIVE_STATUSES,
        "overlap_start": _instant(flag.overlap_start),
        "overlap_end": _instant(flag.overlap_end),
        "review": {
            "status": flag.status,
            "by_organisation": reviewer_name(flag) or None,
            "at": _instant(flag.reviewed_at),
            "note": flag.review_note,
        },
        "report": {
            "id": report.pk,
            "kind": report.kind,
            "site": {"id": report.site_id, "name": report.site.name},
            "source": {"id": report.source_id, "name": report.source.name},
            "started_at": _instant(report.started_at),
            "ended_at": _instant(report.ended_at),
            "ongoing": report.ongoing,
            "time_precision": report.time_precision,
            "verification": report.verification,
        },
    }


def window_data(row: WindowRecord) -> dict[str, Any]:
    window = row.window
    zone_name = window.corridor.origin.timezone
    return {
        "id": window.pk,
        "starts_at": _instant(window.starts_at),
        "ends_at": _instant(window.ends_at),
        "starts_at_local": _instant(window.starts_at, zone_name),
        "ends_at_local": _instant(window.ends_at, zone_name),
        "state": row.state,
        "outcome": None if row.state == "cancelled" else row.outcome,
        "reports": [flag_data(f) for f in row.counting],
        "dismissed": [flag_data(f) for f in row.dismissed],
    }


def corridor_data(item: CorridorRecord) -> dict[str, Any]:
    corridor = item.corridor
    return {
        "id": corridor.pk,
        "name": corridor.name,
        "status": corridor.status,
        "announced_at": _instant(corridor.announced_at),
        "ceasefire_announced": corridor.ceasefire_announced,
        "timezone": corridor.origin.timezone,
        "windows": [window_data(w) for w in item.windows],
    }


def totals_data(totals: Totals, *, ceasefire: bool) -> dict[str, Any]:
    return {
        "windows": totals.windows,
        "cancelled": totals.cancelled,
        "with_exact_time_overlap": totals.confirmed,
        "with_exact_time_overlap_by_verified_report": totals.confirmed_by_verified,
        "with_possible_overlap_only": totals.possible_only,
        "with_no_report": totals.none,
        "with_dismissed_flags_only": totals.dismissed_only,
        "reports": totals.reports,
        "reports_by_verification": totals.by_verification,
        "reports_by_source": totals.by_source,
        "summary": ceasefire_record.totals_sentence(totals, ceasefire=ceasefire),
    }


class SourceRecordView(APIView):
    """The ceasefire record of an announcing source: every corridor it announced, per window what was reported."""

    renderer_classes = [JSONRenderer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["sources"], operation_id="sources_record")
    def get(self, request: Request, pk: int) -> Response:
        try:
            record = ceasefire_record.source_record(pk, now=timezone.now())
        except Source.DoesNotExist:
            raise exceptions.NotFound from None
        return Response(
            {
                "source": {"id": record.source.pk, "name": record.source.name, "kind": record.source.kind},
                "generated_at": _instant(record.now),
                "with_ceasefire": totals_data(record.ceasefire_totals(), ceasefire=True),
                "without_ceasefire": totals_data(record.other_totals(), ceasefire=False),
                "corridors": [corridor_data(c) for c in record.corridors],
            }
        )
