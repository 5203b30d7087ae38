"""`deletions/`: what a client syncing with `updated_since` must drop."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from corridors import services as corridor_services
from tests import factories
from tests.api import csv_rows, hxl_data, url
from tracker import services

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/deletions/"


@pytest.fixture
def deleted(alice, carol):
    """Alice deletes a count on 5 May, carol a window on 6 May; a count and a window stay."""
    count, kept_count = (
        services.figure_save(
            figure=factories.CivilianCountFactory.build(site=factories.SiteFactory(), source=factories.SourceFactory()),
            user=alice,
        )
        for _ in range(2)
    )
    window = factories.WindowFactory()
    factories.WindowFactory(corridor=window.corridor, starts_at=window.ends_at + dt.timedelta(days=1))
    pks = {"count": count.pk, "window": window.pk, "kept_count": kept_count.pk}
    with time_machine.travel(dt.datetime(2022, 5, 5, 12, tzinfo=UTC), tick=False):
        services.figure_delete(figure=count, user=alice)
    with time_machine.travel(dt.datetime(2022, 5, 6, 12, tzinfo=UTC), tick=False):
        corridor_services.window_delete(window=window, user=carol)
    return pks


def test_the_public_learns_what_was_deleted_and_when_oldest_first(api, deleted):
    response = api().get(URL)
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"resource": "counts", "id": deleted["count"], "deleted_at": "2022-05-05T12:00:00Z"},
        {"resource": "windows", "id": deleted["window"], "deleted_at": "2022-05-06T12:00:00Z"},
    ]


def test_updated_since_gives_the_deletions_at_or_after_it(api, deleted):
    rows = api().get(URL, {"updated_since": "2022-05-06T12:00:00Z"}).json()["results"]
    assert [(row["resource"], row["id"]) for row in rows] == [("windows", deleted["window"])]


def test_resource_gives_one_lists_deletions(api, deleted):
    rows = api().get(URL, {"resource": "counts"}).json()["results"]
    assert [(row["resource"], row["id"]) for row in rows] == [("counts", deleted["count"])]


@pytest.mark.parametrize(
    "query",
    [{"resource": "users"}, {"resource": "flags"}, {"resource": "nope"}, {"updated_since": "2022-05-06T12:00:00"}],
)
def test_an_unknown_list_or_a_naive_time_is_a_400(api, query):
    response = api().get(URL, query)
    assert response.status_code == 400
    assert list(response.json()) == list(query)


def test_nothing_changed_or_created_is_listed(api, deleted, carol):
    site = factories.SiteFactory()
    site.name = "Renamed"
    services.site_save(site=site, user=carol)
    ids = {(row["resource"], row["id"]) for row in api().get(URL).json()["results"]}
    assert ("counts", deleted["kept_count"]) not in ids
    assert ("sites", site.pk) not in ids


def test_the_csv_tags_its_columns_for_hxl(api, deleted):
    response = api().get(URL, {"format": "csv"})
    assert csv_rows(response)[:2] == [["resource", "id", "deleted_at"], ["#meta+resource", "#meta+id", "#date+deleted"]]
    assert [row.get("#date+deleted") for row in hxl_data(response)] == ["2022-05-05T12:00:00Z", "2022-05-06T12:00:00Z"]


def test_its_queries_do_not_grow_with_the_page_size(api, alice, django_assert_max_num_queries):
    counts = [factories.CivilianCountFactory(organisation=alice.organisation) for _ in range(12)]
    for count in counts:
        services.figure_delete(figure=count, user=alice)
    with django_assert_max_num_queries(2):
        assert len(api().get(url("deletion-list"), {"page_size": 3}).json()["results"]) == 3
    with django_assert_max_num_queries(2):
        assert len(api().get(url("deletion-list"), {"page_size": 12}).json()["results"]) == 12
