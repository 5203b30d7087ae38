"""
Incremental sync (docs/api.md, "Incremental sync"): a client that follows `next` through
an `updated_since` list, then reads `deletions/`, holds exactly what the server holds,
however the rows are changed, created and deleted between its pages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle

from corridors.models import Arrival, Corridor, CorridorWindow, Departure, Flag
from tests import factories
from tests.api import api, url, walk
from tracker import services
from tracker.models import CivilianCount, HostilityReport, Organisation, Site, Source, User

pytestmark = pytest.mark.django_db
UTC = dt.UTC
EPOCH = "2000-01-01T00:00:00Z"


@pytest.fixture
def alice_and_reports(alice):
    source, site = factories.SourceFactory(), factories.SiteFactory()
    reports = [
        services.figure_save(
            figure=HostilityReport(
                site=site, source=source, kind="shelling", started_at=dt.datetime(2022, 5, i + 1, tzinfo=UTC)
            ),
            user=alice,
        )
        for i in range(7)
    ]
    return alice, reports


def test_following_next_gives_every_row_though_one_read_moves_to_the_end_meanwhile(alice_and_reports):
    """The issue's reproduction: 7 reports, page_size=3, one PATCH between page 1 and page 2."""
    alice, reports = alice_and_reports
    client = api()
    page = client.get(url("hostility-list", updated_since=EPOCH, page_size=3)).json()
    seen = {row["id"]: row for row in page["results"]}
    response = api(alice).patch(
        url("hostility-detail", page["results"][0]["id"]), {"description": "Port"}, format="json"
    )
    assert response.status_code == 200
    for row in walk(client, page["next"]):
        seen[row["id"]] = row
    assert sorted(seen) == sorted(r.pk for r in reports)
    assert seen[page["results"][0]["id"]]["description"] == "Port"


def test_following_next_gives_every_row_though_one_read_is_deleted_meanwhile(alice_and_reports):
    alice, reports = alice_and_reports
    client = api()
    page = client.get(url("hostility-list", updated_since=EPOCH, page_size=3)).json()
    assert api(alice).delete(url("hostility-detail", page["results"][0]["id"])).status_code == 204
    rest = [row["id"] for row in walk(client, page["next"])]
    assert rest == [r.pk for r in reports[3:]]


def test_rows_that_share_an_updated_at_are_paged_by_id_without_repeat_or_gap(alice_and_reports):
    _, reports = alice_and_reports
    same = dt.datetime(2030, 1, 1, tzinfo=UTC)
    HostilityReport.objects.update(updated_at=same)
    rows = walk(api(), url("hostility-list", updated_since=EPOCH, page_size=2))
    assert [row["id"] for row in rows] == sorted(r.pk for r in reports)


def test_the_links_are_cursors_in_the_body_and_the_link_header_and_previous_goes_back(alice_and_reports):
    _, reports = alice_and_reports
    client = api()
    first = client.get(url("hostility-list", updated_since=EPOCH, page_size=3))
    body = first.json()
    assert body["count"] == 7 and body["previous"] is None
    assert "cursor=" in body["next"] and "page=" not in body["next"]
    assert first["Link"] == f'<{body["next"]}>; rel="next"'
    second = client.get(body["next"])
    assert second.json()["count"] == 7
    assert [row["id"] for row in second.json()["results"]] == [r.pk for r in reports[3:6]]
    back = client.get(second.json()["previous"]).json()
    assert [row["id"] for row in back["results"]] == [r.pk for r in reports[:3]]
    assert back["previous"] is None
    last = client.get(second.json()["next"]).json()
    assert [row["id"] for row in last["results"]] == [reports[6].pk]
    assert last["next"] is None


def test_a_page_numbered_by_the_client_links_on_by_cursor(alice_and_reports):
    _, reports = alice_and_reports
    body = api().get(url("hostility-list", updated_since=EPOCH, page_size=3, page=2)).json()
    assert [row["id"] for row in body["results"]] == [r.pk for r in reports[3:6]]
    assert [row["id"] for row in walk(api(), body["next"])] == [reports[6].pk]
    assert [row["id"] for row in api().get(body["previous"]).json()["results"]] == [r.pk for r in reports[:3]]


def test_the_csv_form_pages_by_cursor_too(alice_and_reports):
    response = api().get(url("hostility-list", updated_since=EPOCH, page_size=3, format="csv"))
    assert "cursor=" in response["Link"] and "format=csv" in response["Link"]
    assert response["X-Total-Count"] == "7"


@pytest.mark.parametrize("cursor", ["", "abc", "cD0x", "!!!", "cD0yMDIyLTA1LTA1Jmk9MQ==", "cD14Jmk9MQ=="])
def test_a_cursor_no_page_gave_is_a_400_naming_it(alice_and_reports, cursor):
    response = api().get(url("hostility-list", updated_since=EPOCH, cursor=cursor))
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_a_cursor_without_updated_since_is_a_400_naming_it(alice_and_reports):
    cursor = api().get(url("hostility-list", updated_since=EPOCH, page_size=3)).json()["next"].split("cursor=")[1]
    response = api().get(url("hostility-list", cursor=cursor))
    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "model",
    [
        CivilianCount,
        HostilityReport,
        Site,
        Source,
        Organisation,
        User,
        Corridor,
        CorridorWindow,
        Departure,
        Arrival,
        Flag,
    ],
)
def test_a_page_after_a_cursor_is_read_along_the_index_without_sorting(model):
    """The sync order is the order of the (updated_at, id) index: PostgreSQL reads a page, it sorts nothing."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # As on a large table: a small one is read whole and sorted, which is cheaper there.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(
            f"EXPLAIN SELECT id FROM {table} WHERE updated_at >= %s"  # noqa: S608
            " AND (updated_at > %s OR (updated_at = %s AND id > %s)) ORDER BY updated_at, id LIMIT 51",
            [dt.datetime(2022, 1, 1, tzinfo=UTC)] * 3 + [5],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "_sync" in plan, plan
    assert "Sort" not in plan, plan


# --- Property: a mirror kept by the documented recipe is the server's data -------------------


@dataclasses.dataclass
class Mirror:
    """A client of docs/api.md's recipe: follow `next` from its high-water mark, then drop what `deletions/` names."""

    rows: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    high_water: str = EPOCH

    def sync(self, page_size: int, after_page: Callable[[int], None]) -> None:
        """One sync; `after_page(n)` runs after the client has read its page n (from 0)."""
        since, client = self.high_water, api()
        next_url: str | None = url("count-list", updated_since=since, page_size=page_size)
        pages = 0
        while next_url:
            body = client.get(next_url).json()
            for row in body["results"]:
                self.rows[row["id"]] = row
                self.high_water = max(self.high_water, row["updated_at"], key=_instant)
            if body["next"]:
                after_page(pages)
            pages += 1
            next_url = body["next"]
        for deletion in walk(client, url("deletion-list", resource="counts", updated_since=since)):
            self.rows.pop(deletion["id"], None)


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# A write by someone else after the client's page n: change, delete or add a count (chosen by
# its place among the counts as they are then).
WRITES = st.tuples(st.integers(0, 5), st.sampled_from(["change", "delete", "add"]), st.integers(0, 20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.integers(1, 9),
    tied=st.sets(st.integers(0, 8), max_size=6),
    page_size=st.integers(1, 4),
    rounds=st.lists(st.lists(WRITES, max_size=8), min_size=1, max_size=3),
)
def test_a_mirror_that_follows_next_and_the_deletions_holds_what_the_server_holds(
    alice, initial, tied, page_size, rounds
):
    # Each example with its own throttle counts, as each test has (tests/conftest.py).
    fresh = LocMemCache(f"throttles-{uuid.uuid4()}", {})
    with transaction.atomic(), mock.patch.object(SimpleRateThrottle, "cache", fresh):
        site, source = factories.SiteFactory(), factories.SourceFactory()

        def add() -> None:
            count = CivilianCount(site=site, source=source, as_of=dt.datetime(2022, 5, 4, tzinfo=UTC), count=1)
            services.figure_save(figure=count, user=alice)

        def write(kind: str, which: int) -> None:
            counts = list(CivilianCount.objects.order_by("updated_at", "id"))
            if kind == "add" or not counts:
                return add()
            count = counts[which % len(counts)]
            if kind == "change":
                count.count += 1
                services.figure_save(figure=count, user=alice)
            else:
                services.figure_delete(figure=count, user=alice)

        for _ in range(initial):
            add()
        # Some counts share one updated_at (as a bulk write leaves them): the id orders them.
        pks = sorted(CivilianCount.objects.values_list("pk", flat=True))
        CivilianCount.objects.filter(pk__in=[pks[i] for i in tied if i < len(pks)]).update(
            updated_at=dt.datetime(2022, 5, 5, tzinfo=UTC)
        )
        mirror = Mirror()
        for writes in rounds:
            done: set[int] = set()

            def after_page(n: int, writes=writes, done=done) -> None:
                for i, (page, kind, which) in enumerate(writes):
                    if page == n:
                        write(kind, which)
                        done.add(i)

            mirror.sync(page_size, after_page)
            assert mirror.rows == _server(), "after following next to the end"
            # Writes due after pages this sync did not have: the next sync must find them.
            for i, (_, kind, which) in enumerate(writes):
                if i not in done:
                    write(kind, which)
        mirror.sync(page_size, lambda n: None)
        assert mirror.rows == _server()
        transaction.set_rollback(True)


def _server() -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in walk(api(), url("count-list", page_size=500))}
