"""
What can be imported: each resource of the API that staff write in bulk, named as its
list is (`counts`, `hostilities`, ...), with the API's own serializer (the fields, the
types and the messages of a single write), its HXL hashtags (those of its CSV export,
so that an export edited in a spreadsheet comes back), and the write services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import models
from rest_framework import serializers

from tracker import permissions, services


@dataclass(frozen=True)
class Resource:
    name: str
    # The API's viewset of the list: its serializer, model and hashtags are the import's.
    viewset: Any
    save: Callable[[Any, Any], Any]
    delete: Callable[[Any, Any], None]
    # The fields that find the object a row without an `id` is about, so that importing
    # the same row twice changes it rather than adding a second one. For figures, among
    # those of the importer's organisation.
    natural_key: tuple[str, ...]
    may_import: Callable[[Any], bool]

    @property
    def serializer(self) -> type[serializers.ModelSerializer]:
        return self.viewset.serializer_class

    @property
    def model(self) -> type[models.Model]:
        return self.serializer.Meta.model

    @property
    def hxl_tags(self) -> Mapping[str, str]:
        return self.viewset.hxl_tags

    @property
    def is_figure(self) -> bool:
        return hasattr(self.model, "verification")


def _figure_save(figure: Any, user: Any) -> Any:
    return services.figure_save(figure=figure, user=user)


def _figure_delete(figure: Any, user: Any) -> None:
    services.figure_delete(figure=figure, user=user)


@cache
def resources() -> dict[str, Resource]:
    # Here rather than at the top: the corridors app's API imports tracker's.
    from corridors.api import views as corridor_views
    from tracker.api import views as tracker_views

    return {
        resource.name: resource
        for resource in (
            Resource(
                name="counts",
                viewset=tracker_views.CivilianCountViewSet,
                save=_figure_save,
                delete=_figure_delete,
                natural_key=("site", "as_of", "source"),
                may_import=permissions.can_add_figures,
            ),
            Resource(
                name="hostilities",
                viewset=tracker_views.HostilityReportViewSet,
                save=lambda report, user: services.hostility_report_save(report=report, user=user),
                delete=lambda report, user: services.hostility_report_delete(report=report, user=user),
                natural_key=("site", "kind", "started_at", "source"),
                may_import=permissions.can_add_figures,
            ),
            Resource(
                name="departures",
                viewset=corridor_views.DepartureViewSet,
                save=_figure_save,
                delete=_figure_delete,
                natural_key=("origin", "departed_at", "source"),
                may_import=permissions.can_add_figures,
            ),
            Resource(
                name="arrivals",
                viewset=corridor_views.ArrivalViewSet,
                save=_figure_save,
                delete=_figure_delete,
                natural_key=("origin", "destination", "arrived_at", "source"),
                may_import=permissions.can_add_figures,
            ),
            Resource(
                name="sites",
                viewset=tracker_views.SiteViewSet,
                save=lambda site, user: services.site_save(site=site, user=user),
                delete=lambda site, user: services.site_delete(site=site, user=user),
                natural_key=("name", "parent"),
                may_import=permissions.can_manage_places,
            ),
            Resource(
                name="sources",
                viewset=tracker_views.SourceViewSet,
                save=lambda source, user: services.source_save(source=source, user=user),
                delete=lambda source, user: services.source_delete(source=source, user=user),
                natural_key=("name",),
                may_import=permissions.is_staff_member,
            ),
        )
    }


RESOURCE_NAMES = ("counts", "hostilities", "departures", "arrivals", "sites", "sources")
