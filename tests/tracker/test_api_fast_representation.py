"""
The API's serializers read plain attributes directly for speed (tracker/api/base.py,
`ModelSerializer.to_representation`): what they give must be exactly what DRF's own
`Serializer.to_representation` gives, field for field, in the same order.
"""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework import serializers

from corridors.api import serializers as corridor_api
from corridors.api.views import CorridorViewSet, prepare_windows
from corridors.models import Corridor, CorridorWaypoint, CorridorWindow, Flag
from tests import factories
from tracker.api import serializers as tracker_api
from tracker.api.base import ModelSerializer
from tracker.api.views import SiteViewSet
from tracker.models import CivilianCount, HostilityReport, Site

UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def drf(serializer: serializers.Serializer, instance) -> dict:
    """
    DRF's own representation, by the same serializer's fields; with the staff accounts
    this reader (the public: no request) may not see nulled, by the same rule.
    """
    data = serializers.Serializer.to_representation(serializer, instance)
    return serializer._hide_people(data) if isinstance(serializer, ModelSerializer) else data


def ours(serializer: serializers.Serializer, instance) -> dict:
    return ModelSerializer.to_representation(serializer, instance)


def same(serializer: serializers.Serializer, instances) -> None:
    for instance in instances:
        expected = drf(serializer, instance)
        got = ours(serializer, instance)
        assert got == expected
        assert list(got) == list(expected)


@pytest.fixture
def world(alice, carol):
    region = factories.SiteFactory(name="Donetsk region", kind="region")
    city = factories.SiteFactory(name="Mariupol", parent=region)
    shelter = factories.SiteFactory(name="Azovstal", kind="shelter", parent=city, restricted=True)
    crossing = factories.SiteFactory(name="Checkpoint", kind="crossing")
    factories.CivilianCountFactory(site=shelter, count=200, count_high=250, organisation=alice.organisation)
    factories.CivilianCountFactory(site=city, count=1000, qualifier="at_least", reported_at=NOW, created_by=alice)
    corridor = factories.CorridorFactory(origin=shelter, destination=crossing, announced_at=NOW)
    CorridorWaypoint.objects.create(corridor=corridor, site=city, position=1)
    quiet = factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 4, 5, tzinfo=UTC))
    busy = factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 6, 5, tzinfo=UTC))
    factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 7, 5, tzinfo=UTC), cancelled=True)
    report = factories.HostilityReportFactory(site=shelter, ended_at=dt.datetime(2022, 5, 5, 8, tzinfo=UTC))
    factories.FlagFactory(window=busy, hostility=report)
    factories.FlagFactory(
        window=quiet, hostility=factories.HostilityReportFactory(site=shelter), status="dismissed", review_note="No."
    )
    factories.DepartureFactory(origin=shelter, corridor=corridor, window=busy, count=30, qualifier="approximately")
    factories.ArrivalFactory(origin=shelter, destination=crossing, corridor=corridor, window=busy, count=28)


def test_it_gives_drf_representation_of_counts_and_reports(world):
    same(tracker_api.CivilianCountSerializer(), CivilianCount.objects.all())
    same(tracker_api.HostilityReportSerializer(), HostilityReport.objects.all())


def test_it_gives_drf_representation_of_sites_with_their_latest_count(world):
    sites = list(Site.objects.all())
    SiteViewSet().prepare(sites)
    same(tracker_api.SiteSerializer(), sites)


def test_it_gives_drf_representation_of_windows_with_and_without_totals(world):
    windows = list(CorridorWindow.objects.select_related("corridor__origin"))
    prepare_windows(windows, now=NOW)
    assert {w.totals.departed is None for w in windows} == {True, False}
    same(corridor_api.WindowSerializer(), windows)


def test_it_gives_drf_representation_of_corridors_and_flags(world):
    corridors = list(Corridor.objects.select_related("origin"))
    CorridorViewSet().prepare(corridors)
    same(corridor_api.CorridorSerializer(), corridors)
    same(corridor_api.FlagSerializer(), Flag.objects.select_related("window"))


class Awkward(ModelSerializer):
    """Sources DRF's lookup treats specially: None on the way, a callable, a mapping, a missing attribute."""

    parent = serializers.CharField(source="site.parent.name", read_only=True)
    parent_or_null = serializers.CharField(source="site.parent.name", read_only=True, allow_null=True)
    parent_or_default = serializers.CharField(source="site.parent.name", read_only=True, default="none")
    text = serializers.CharField(source="__str__", read_only=True)
    qualifier_label = serializers.CharField(source="get_qualifier_display", read_only=True)
    extra = serializers.CharField(source="extra.key", read_only=True)
    missing = serializers.CharField(source="no_such_attribute", read_only=True, required=False)

    class Meta:
        model = CivilianCount
        fields = (
            "id",
            "site",
            "parent",
            "parent_or_null",
            "parent_or_default",
            "text",
            "qualifier_label",
            "extra",
            "missing",
        )


def test_it_leaves_to_drf_what_drf_treats_specially(world):
    counts = list(CivilianCount.objects.select_related("site__parent"))
    for count in counts:
        count.extra = {"key": "from a mapping"}
    assert {c.site.parent is None for c in counts} == {False}
    counts.append(CivilianCount(site=Site(name="Nowhere"), count=1, as_of=NOW, source_id=1))
    counts[-1].extra = {"key": "x"}
    same(Awkward(), counts)
    assert "parent" not in ours(Awkward(), counts[-1])
    assert ours(Awkward(), counts[-1])["parent_or_null"] is None
    assert ours(Awkward(), counts[-1])["parent_or_default"] == "none"


@pytest.mark.parametrize(
    "serializer_class",
    [
        tracker_api.CivilianCountSerializer,
        tracker_api.HostilityReportSerializer,
        tracker_api.OrganisationSerializer,
        tracker_api.SourceSerializer,
        tracker_api.UserSerializer,
        corridor_api.DepartureSerializer,
        corridor_api.ArrivalSerializer,
    ],
)
def test_lists_of_plain_columns_are_represented_from_rows_as_from_objects(world, serializer_class):
    serializer = serializer_class()
    columns = serializer.plain_columns()
    assert columns is not None
    model = serializer_class.Meta.model
    for instance, row in zip(
        model.objects.order_by("pk"), model.objects.order_by("pk").values_list(*columns), strict=True
    ):
        assert serializer.represent_row(row) == drf(serializer, instance)


@pytest.mark.parametrize(
    "serializer_class",
    [tracker_api.SiteSerializer, corridor_api.WindowSerializer, corridor_api.CorridorSerializer, Awkward],
)
def test_other_lists_are_represented_from_objects(serializer_class):
    assert serializer_class().plain_columns() is None


def test_a_list_of_counts_reads_plain_rows(world, public):
    response = public.get("/api/v1/counts/?page_size=1")
    expected = drf(tracker_api.CivilianCountSerializer(), CivilianCount.objects.order_by("-as_of", "-id").first())
    assert response.json()["results"] == [expected]
    assert response.json()["count"] == CivilianCount.objects.count()
