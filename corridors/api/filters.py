"""The filters of the corridor lists (docs/api.md, "Filters"); every one also takes `updated_since`."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
from tracker.api.base import AwareDateTimeFilter, FilterSet, StrictBooleanFilter, overlap_filter
from tracker.api.filters import SINCE, UNTIL

_window_since, _window_until = overlap_filter("starts_at", "ends_at")


class CorridorFilter(FilterSet):
    class Meta:
        model = Corridor
        fields = ["origin", "destination", "status"]


class WindowFilter(FilterSet):
    status = django_filters.ChoiceFilter(
        choices=CorridorWindow.Status.choices, method="filter_status", label="Its state at the time of the request."
    )
    flagged = StrictBooleanFilter(
        method="filter_flagged", label="`true`: windows with an open or acknowledged flag; `false`: without."
    )
    since = AwareDateTimeFilter(method=_window_since, label="Windows that end after this instant.")
    until = AwareDateTimeFilter(
        method=_window_until,
        label="Windows that start before this instant. With `since`: those that overlap [since, until).",
    )

    class Meta:
        model = CorridorWindow
        fields = ["corridor"]

    def filter_status(self, queryset: QuerySet[CorridorWindow], name: str, value: str) -> QuerySet[CorridorWindow]:
        return queryset.with_status(value, self.request.now)  # type: ignore[attr-defined]

    def filter_flagged(self, queryset: QuerySet[CorridorWindow], name: str, value: bool) -> QuerySet[CorridorWindow]:
        return queryset.flagged(value)  # type: ignore[attr-defined]


class DepartureFilter(FilterSet):
    since = AwareDateTimeFilter(field_name="departed_at", lookup_expr="gte", label=f"`departed_at` {SINCE}")
    until = AwareDateTimeFilter(field_name="departed_at", lookup_expr="lt", label=f"`departed_at` {UNTIL}")

    class Meta:
        model = Departure
        fields = ["origin", "corridor", "window"]


class ArrivalFilter(FilterSet):
    since = AwareDateTimeFilter(field_name="arrived_at", lookup_expr="gte", label=f"`arrived_at` {SINCE}")
    until = AwareDateTimeFilter(field_name="arrived_at", lookup_expr="lt", label=f"`arrived_at` {UNTIL}")

    class Meta:
        model = Arrival
        fields = ["origin", "destination", "corridor", "window"]


class FlagFilter(FilterSet):
    corridor = django_filters.ModelChoiceFilter(field_name="window__corridor", queryset=Corridor.objects.all())

    class Meta:
        model = Flag
        fields = ["window", "hostility", "status", "certainty"]
