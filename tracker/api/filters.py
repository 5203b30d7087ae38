"""The filters of the facts-on-the-ground lists (docs/api.md, "Filters"); every one also takes `updated_since`."""

from __future__ import annotations

import django_filters

from tracker.api.base import AwareDateTimeFilter, FilterSet, overlap_filter
from tracker.models import CivilianCount, HostilityReport, Organisation, Site, Source, User, Verification

SINCE = "at or after this instant (ISO 8601 with offset)."
UNTIL = "before this instant (ISO 8601 with offset)."


class OrganisationFilter(FilterSet):
    class Meta:
        model = Organisation
        fields: list[str] = []


class UserFilter(FilterSet):
    class Meta:
        model = User
        fields = ["organisation", "role"]


class SourceFilter(FilterSet):
    class Meta:
        model = Source
        fields = ["kind"]


class SiteFilter(FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains (any case).")

    class Meta:
        model = Site
        fields = ["parent", "kind"]


class CivilianCountFilter(FilterSet):
    since = AwareDateTimeFilter(field_name="as_of", lookup_expr="gte", label=f"`as_of` {SINCE}")
    until = AwareDateTimeFilter(field_name="as_of", lookup_expr="lt", label=f"`as_of` {UNTIL}")

    class Meta:
        model = CivilianCount
        fields = ["site"]


_report_since, _report_until = overlap_filter("coverage_start", "coverage_end", open_end=True)


class HostilityReportFilter(FilterSet):
    since = AwareDateTimeFilter(
        method=_report_since,
        label="Reports whose time (as its precision covers it; an ongoing one has no end) reaches past this instant.",
    )
    until = AwareDateTimeFilter(
        method=_report_until,
        label="Reports whose time begins before this instant. With `since`: the reports that overlap [since, until).",
    )
    verification = django_filters.ChoiceFilter(choices=Verification.choices)

    class Meta:
        model = HostilityReport
        fields = ["site", "kind", "verification"]
