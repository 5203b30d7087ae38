"""
The conventions of the REST API (docs/api.md, "Conventions"), proved across its resources:
UTC instants, ETags and preconditions, Idempotency-Key, pagination and stable
order, incremental sync with `updated_since`, CSV with HXL hashtags, throttling,
all-or-nothing writes, and lists whose query count does not grow with the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from corridors import services as corridor_services
from corridors.models import Arrival, Corridor, CorridorWaypoint, CorridorWindow, Departure, Flag, FlagCheck
from tests import factories
from tests.api import LIST_ENDPOINTS, api, hxl_dataset, ids, url, walk
from tracker import tasks
from tracker.models import CivilianCount, HostilityReport, IdempotencyRecord, Organisation, Site, Source, User

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


# --- A few of each resource ------------------------------------------------------


def _organisations(n: int) -> list[Any]:
    return [factories.OrganisationFactory(name=f"Relief {i:03}") for i in range(n)]


def _users(n: int) -> list[Any]:
    ngo = factories.OrganisationFactory(name="Field NGO")
    return [factories.UserFactory(username=f"staff{i:03}", organisation=ngo) for i in range(n)]


def _sources(n: int) -> list[Any]:
    return [factories.SourceFactory(name=f"Outlet {i:03}") for i in range(n)]


def _sites(n: int) -> list[Any]:
    """Same name (the sort key), a parent, every other one restricted, each with counts from two sources."""
    region = factories.SiteFactory(name="zz Donetsk oblast", kind="region")
    sites = [factories.SiteFactory(name="Shelter", parent=region, restricted=i % 2 == 0) for i in range(n)]
    for site in sites:
        factories.CivilianCountFactory(site=site, count=200)
        factories.CivilianCountFactory(site=site, count=150, as_of=utc(2022, 5, 5))
    return sites


def _counts(n: int) -> list[Any]:
    site, source = factories.SiteFactory(), factories.SourceFactory()
    return [factories.CivilianCountFactory(site=site, source=source, count=100 + i) for i in range(n)]


def _corridors(n: int) -> list[Any]:
    """Same name (the sort key), two waypoints each."""
    corridors = [factories.CorridorFactory(name="Azovstal → Zaporizhzhia") for _ in range(n)]
    for corridor in corridors:
        for position in (1, 2):
            CorridorWaypoint.objects.create(corridor=corridor, site=factories.SiteFactory(), position=position)
    return corridors


def _windows(n: int) -> list[Any]:
    """Same start (the sort key) on different corridors, each with a flag, a departure and an arrival."""
    windows = [factories.WindowFactory(starts_at=utc(2022, 5, 5, 5)) for _ in range(n)]
    for window in windows:
        factories.FlagFactory(window=window)
        factories.DepartureFactory(origin=window.corridor.origin, window=window, corridor=window.corridor)
        factories.ArrivalFactory(origin=window.corridor.origin, window=window, corridor=window.corridor)
    return windows


def _hostilities(n: int) -> list[Any]:
    site, source = factories.SiteFactory(), factories.SourceFactory()
    return [factories.HostilityReportFactory(site=site, source=source) for _ in range(n)]


def _departures(n: int) -> list[Any]:
    window = factories.WindowFactory()
    corridor, source = window.corridor, factories.SourceFactory()
    return [
        factories.DepartureFactory(origin=corridor.origin, corridor=corridor, window=window, source=source)
        for _ in range(n)
    ]


def _arrivals(n: int) -> list[Any]:
    window = factories.WindowFactory()
    corridor, source = window.corridor, factories.SourceFactory()
    return [
        factories.ArrivalFactory(
            origin=corridor.origin, destination=corridor.destination, corridor=corridor, window=window, source=source
        )
        for _ in range(n)
    ]


def _flags(n: int) -> list[Any]:
    """Same raised_at (the sort key); a window and report each."""
    raised = utc(2022, 5, 5, 9)
    return [factories.FlagFactory(raised_at=raised) for _ in range(n)]


@dataclass(frozen=True)
class Resource:
    basename: str
    model: type
    make: Callable[[int], list[Any]]
    # Ascending (True) or descending (False) by id among equal sort keys.
    ascending: bool


RESOURCES = {
    "organisation": Resource("organisation", Organisation, _organisations, True),
    "user": Resource("user", User, _users, True),
    "source": Resource("source", Source, _sources, True),
    "site": Resource("site", Site, _sites, True),
    "count": Resource("count", CivilianCount, _counts, False),
    "corridor": Resource("corridor", Corridor, _corridors, True),
    "window": Resource("window", CorridorWindow, _windows, True),
    "hostility": Resource("hostility", HostilityReport, _hostilities, False),
    "departure": Resource("departure", Departure, _departures, False),
    "arrival": Resource("arrival", Arrival, _arrivals, False),
    "flag": Resource("flag", Flag, _flags, False),
}
assert tuple(RESOURCES) == LIST_ENDPOINTS


@pytest.fixture
def reader(dave):
    """Who reads each list: the public, except the staff accounts, which only an admin sees."""
    return lambda basename: api(dave) if basename == "user" else api()


# --- Instants ------------------------------------------------------------------------


class TestInstants:
    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_every_instant_is_given_in_utc(self, reader, basename):
        RESOURCES[basename].make(2)
        rows = reader(basename).get(url(f"{basename}-list")).json()["results"]
        instants = [
            (key, value)
            for row in rows
            for key, value in _flatten(row).items()
            if isinstance(value, str) and ISO_INSTANT.match(value)
        ]
        assert instants, "every resource has at least created_at and updated_at"
        for key, value in instants:
            if key.startswith("local_"):
                # The one exception, by design: a window's local times carry the local offset.
                assert not value.endswith("Z"), key
            else:
                assert value.endswith("Z"), (key, value)

    @pytest.mark.parametrize(
        "given",
        [
            "2022-05-05T10:00:00+03:00",
            "2022-05-05T07:00:00Z",
            "2022-05-05T07:00:00+00:00",
            "2022-05-05T12:30:00+05:30",
            "2022-05-05T03:00:00-04:00",
            "2022-05-05T07:00:00.000000Z",
        ],
    )
    def test_input_in_any_offset_is_the_same_instant(self, alice, given):
        body = {
            "site": factories.SiteFactory().pk,
            "kind": "shelling",
            "started_at": given,
            "source": factories.SourceFactory().pk,
        }
        response = api(alice).post(url("hostility-list"), body, format="json")
        assert response.status_code == 201
        assert response.json()["started_at"] == "2022-05-05T07:00:00Z"
        assert HostilityReport.objects.get().started_at == utc(2022, 5, 5, 7)

    @pytest.mark.parametrize("given", ["2022-05-05T10:00:00", "2022-05-05 10:00", "2022-05-05"])
    def test_an_instant_without_offset_is_a_400(self, alice, given):
        body = {
            "site": factories.SiteFactory().pk,
            "kind": "shelling",
            "started_at": given,
            "source": factories.SourceFactory().pk,
        }
        response = api(alice).post(url("hostility-list"), body, format="json")
        assert response.status_code == 400
        assert "started_at" in response.json()
        assert not HostilityReport.objects.exists()

    def test_a_query_instant_whose_plus_arrived_as_a_space_is_read_as_an_offset(self):
        window = factories.WindowFactory(starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))
        # `+` unencoded in a query string means a space; the API reads it back as `+`.
        raw = api().get(url("window-list") + "?since=2022-05-05T17:59:00+03:00")
        encoded = api().get(url("window-list", since="2022-05-05T17:59:00+03:00"))
        later = api().get(url("window-list", since="2022-05-05T18:00:00+03:00"))
        assert ids(raw) == ids(encoded) == [window.pk]
        assert ids(later) == []


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --- ETags and preconditions ------------------------------------------------------


# Who may change each resource, and one change to make.
WRITES = {
    "organisation": ("dave", "acronym", "HH2"),
    "user": ("dave", "username", "renamed"),
    "source": ("carol", "url", "https://example.org/other"),
    "site": ("carol", "name", "Renamed"),
    "count": ("alice", "count", 300),
    "corridor": ("carol", "name", "Renamed"),
    "window": ("carol", "ends_at", "2022-05-05T16:00:00Z"),
    "hostility": ("alice", "description", "Renamed"),
    "departure": ("alice", "count", 300),
    "arrival": ("alice", "count", 300),
}


# One object of each writable resource that nothing refers to (so that it may be deleted).
SINGLE = {
    "organisation": factories.OrganisationFactory,
    "user": lambda: factories.UserFactory(username="erin"),
    "source": factories.SourceFactory,
    "site": factories.SiteFactory,
    "count": factories.CivilianCountFactory,
    "corridor": factories.CorridorFactory,
    "window": factories.WindowFactory,
    "hostility": factories.HostilityReportFactory,
    "departure": factories.DepartureFactory,
    "arrival": factories.ArrivalFactory,
}


@pytest.fixture
def writable(request, alice, ngo_a):
    """One object of the resource and who may change it (alice, for NGO A's figures)."""

    def make(basename: str) -> tuple[Any, Any]:
        writer = request.getfixturevalue(WRITES[basename][0])
        obj = SINGLE[basename]()
        if basename in ("count", "hostility", "departure", "arrival"):
            type(obj).objects.filter(pk=obj.pk).update(organisation=ngo_a, created_by=alice)
        obj.refresh_from_db()
        return obj, writer

    return make


def _changed(obj: Any) -> None:
    """Someone else changes the object (its `updated_at` moves, so does its representation)."""
    type(obj).objects.filter(pk=obj.pk).update(updated_at=utc(2030, 1, 1))


class TestLanguage:
    @pytest.mark.parametrize(
        ("language", "expected"),
        [("en", "Give the time with its UTC offset"), ("uk", "Вкажіть час зі зміщенням від UTC")],
    )
    def test_errors_are_in_the_language_the_client_asks_for(self, alice, language, expected):
        body = {
            "site": factories.SiteFactory().pk,
            "kind": "shelling",
            "started_at": "2022-05-05T10:00:00",
            "source": factories.SourceFactory().pk,
        }
        response = api(alice).post(url("hostility-list"), body, format="json", headers={"Accept-Language": language})
        assert response.status_code == 400
        assert response.json()["started_at"][0].startswith(expected)
        assert not HostilityReport.objects.exists()


class TestETags:
    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_every_detail_carries_an_etag_that_if_none_match_turns_into_304(self, reader, basename):
        [obj] = RESOURCES[basename].make(1)
        client = reader(basename)
        response = client.get(url(f"{basename}-detail", obj.pk))
        etag = response["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        assert client.get(url(f"{basename}-detail", obj.pk))["ETag"] == etag
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            not_modified = client.get(url(f"{basename}-detail", obj.pk), headers={"If-None-Match": header})
            assert (not_modified.status_code, not_modified.content) == (304, b"")
            assert not_modified["ETag"] == etag
        _changed(obj)
        changed = client.get(url(f"{basename}-detail", obj.pk), headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed["ETag"] != etag

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    @pytest.mark.parametrize("basename", list(WRITES))
    def test_a_stale_if_match_is_412_and_changes_nothing(self, writable, basename, method):
        obj, writer = writable(basename)
        client = api(writer)
        detail = url(f"{basename}-detail", obj.pk)
        stale = client.get(detail)["ETag"]
        _changed(obj)
        before = client.get(detail).json()
        history = obj.history.count()
        _, field, value = WRITES[basename]
        body = {**before, field: value} if method == "put" else {field: value}
        response = getattr(client, method)(detail, body, format="json", headers={"If-Match": stale})
        assert response.status_code == 412
        assert client.get(detail).json() == before
        assert obj.history.count() == history

    @pytest.mark.parametrize("if_match", ["{etag}", "W/{etag}", "*", '"other", {etag}'])
    @pytest.mark.parametrize("method", ["put", "patch"])
    @pytest.mark.parametrize("basename", list(WRITES))
    def test_a_matching_if_match_succeeds_with_the_new_etag(self, writable, basename, method, if_match):
        obj, writer = writable(basename)
        client = api(writer)
        detail = url(f"{basename}-detail", obj.pk)
        current = client.get(detail)
        _, field, value = WRITES[basename]
        body = {**current.json(), field: value} if method == "put" else {field: value}
        header = if_match.format(etag=current["ETag"])
        response = getattr(client, method)(detail, body, format="json", headers={"If-Match": header})
        assert response.status_code == 200, response.json()
        assert response.json()[field] == value
        assert response["ETag"] != current["ETag"]
        assert response["ETag"] == client.get(detail)["ETag"]

    @pytest.mark.parametrize("if_match", ["{etag}", "W/{etag}", "*"])
    @pytest.mark.parametrize("basename", list(WRITES))
    def test_a_matching_if_match_deletes(self, writable, basename, if_match):
        obj, writer = writable(basename)
        client = api(writer)
        detail = url(f"{basename}-detail", obj.pk)
        header = if_match.format(etag=client.get(detail)["ETag"])
        assert client.delete(detail, headers={"If-Match": header}).status_code == 204
        assert not type(obj).objects.filter(pk=obj.pk).exists()

    def test_a_review_with_a_stale_if_match_is_412(self, carol):
        [flag] = _flags(1)
        stale = api().get(url("flag-detail", flag.pk))["ETag"]
        _changed(flag)
        response = api(carol).post(
            url("flag-review", flag.pk), {"status": "acknowledged"}, format="json", headers={"If-Match": stale}
        )
        assert response.status_code == 412
        flag.refresh_from_db()
        assert flag.status == "open"


# --- Idempotency-Key ------------------------------------------------------------------


def _count_body() -> dict[str, Any]:
    site = Site.objects.first() or factories.SiteFactory(name="Azovstal")
    source = Source.objects.first() or factories.SourceFactory(name="Mariupol city council")
    return {
        "site": site.pk,
        "as_of": "2022-05-04T12:00:00+03:00",
        "count": 200,
        "qualifier": "approximately",
        "source": source.pk,
    }


def _post(client, path, body, key, **headers):
    return client.post(path, body, format="json", headers={"Idempotency-Key": key, **headers})


class TestIdempotencyKey:
    @pytest.fixture
    def world(self, db):
        """A corridor with a window, and a ground assault report at its origin that flagged it."""
        azovstal = factories.SiteFactory(name="Azovstal")
        window = factories.WindowFactory(
            corridor=factories.CorridorFactory(origin=azovstal), starts_at=utc(2022, 5, 5, 5)
        )
        flag = factories.FlagFactory(window=window, hostility=factories.HostilityReportFactory(site=azovstal))
        return {"azovstal": azovstal, "window": window, "corridor": window.corridor, "flag": flag}

    def assert_replayed(self, first, again):
        assert "Idempotent-Replayed" not in first
        assert again["Idempotent-Replayed"] == "true"
        assert again.status_code == first.status_code
        # The same bytes, keys in the same order (PostgreSQL's jsonb would reorder them).
        assert again.content == first.content

    def test_a_repeated_count_returns_the_first_response_and_adds_nothing(self, alice):
        body = _count_body()
        first = _post(api(alice), url("count-list"), body, "count-1")
        again = _post(api(alice), url("count-list"), body, "count-1")
        assert first.status_code == 201
        self.assert_replayed(first, again)
        assert CivilianCount.objects.count() == 1
        assert CivilianCount.history.count() == 1

    def test_a_repeated_hostility_report_raises_its_flags_once(self, alice, world, django_capture_on_commit_callbacks):
        body = {
            "site": world["azovstal"].pk,
            "kind": "ground_assault",
            "started_at": "2022-05-05T10:00:00+03:00",
            "source": factories.SourceFactory().pk,
        }
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            first = _post(api(alice), url("hostility-list"), body, "storming")
        with django_capture_on_commit_callbacks(execute=True) as more:
            again = _post(api(alice), url("hostility-list"), body, "storming")
        self.assert_replayed(first, again)
        assert HostilityReport.objects.count() == 2  # the world's and this one
        assert Flag.objects.filter(hostility_id=first.json()["id"]).count() == 1
        assert callbacks
        assert more == []
        assert not FlagCheck.objects.exists()

    def test_a_repeated_schedule_returns_the_same_windows_and_creates_no_more(self, carol, world):
        body = {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-06-01", "days": 3}
        path = url("corridor-schedule", world["corridor"].pk)
        first = _post(api(carol), path, body, "june")
        again = _post(api(carol), path, body, "june")
        assert first.status_code == 201
        self.assert_replayed(first, again)
        assert CorridorWindow.objects.filter(corridor=world["corridor"]).count() == 1 + 3

    def test_a_repeated_review_returns_the_first_response(self, carol, dave, world):
        path = url("flag-review", world["flag"].pk)
        body = {"status": "dismissed", "note": "Another road."}
        first = _post(api(carol), path, body, "review-1")
        history = world["flag"].history.count()
        again = _post(api(carol), path, body, "review-1")
        assert first.status_code == 200
        self.assert_replayed(first, again)
        assert world["flag"].history.count() == history

    def test_a_retried_review_is_replayed_though_its_if_match_is_stale_by_its_own_doing(self, carol, world):
        """The client that lost the response retries the very same request: its If-Match is stale only because of it."""
        path = url("flag-review", world["flag"].pk)
        etag = api().get(url("flag-detail", world["flag"].pk))["ETag"]
        body = {"status": "acknowledged", "note": "Convoy told."}
        first = _post(api(carol), path, body, "review-2", **{"If-Match": etag})
        again = _post(api(carol), path, body, "review-2", **{"If-Match": etag})
        assert first.status_code == 200
        self.assert_replayed(first, again)

    def test_the_same_key_with_another_body_is_a_400(self, alice):
        body = _count_body()
        _post(api(alice), url("count-list"), body, "count-1")
        response = _post(api(alice), url("count-list"), {**body, "count": 201}, "count-1")
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["detail"]
        assert list(CivilianCount.objects.values_list("count", flat=True)) == [200]

    def test_the_same_key_on_another_endpoint_is_a_400(self, alice):
        _post(api(alice), url("count-list"), _count_body(), "k")
        response = _post(api(alice), url("source-list"), {"name": "Azov regiment", "kind": "military"}, "k")
        assert response.status_code == 400
        assert not Source.objects.filter(name="Azov regiment").exists()

    def test_keys_belong_to_their_user(self, alice, bob):
        body = _count_body()
        first = _post(api(alice), url("count-list"), body, "shared-key")
        second = _post(api(bob), url("count-list"), body, "shared-key")
        assert second.status_code == 201
        assert "Idempotent-Replayed" not in second
        assert second.json()["id"] != first.json()["id"]
        assert second.json()["created_by"] == bob.pk
        assert CivilianCount.objects.count() == 2

    def test_a_key_is_fresh_again_after_a_day(self, alice):
        body = _count_body()
        with time_machine.travel(NOW, tick=False):
            first = _post(api(alice), url("count-list"), body, "daily")
        with time_machine.travel(NOW + dt.timedelta(hours=23, minutes=59), tick=False):
            assert _post(api(alice), url("count-list"), body, "daily")["Idempotent-Replayed"] == "true"
        with time_machine.travel(NOW + dt.timedelta(days=1, seconds=1), tick=False):
            later = _post(api(alice), url("count-list"), body, "daily")
        assert later.status_code == 201
        assert "Idempotent-Replayed" not in later
        assert later.json()["id"] != first.json()["id"]
        assert CivilianCount.objects.count() == 2

    def test_a_failed_request_keeps_no_record_so_its_corrected_retry_runs(self, alice):
        body = _count_body()
        failed = _post(api(alice), url("count-list"), {**body, "as_of": "2022-05-04T12:00:00"}, "retry-me")
        assert failed.status_code == 400
        assert not IdempotencyRecord.objects.exists()
        retried = _post(api(alice), url("count-list"), body, "retry-me")
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried
        assert CivilianCount.objects.count() == 1

    def test_a_refused_request_keeps_no_record(self, alice, world):
        body = {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-06-01", "days": 1}
        assert _post(api(alice), url("corridor-schedule", world["corridor"].pk), body, "k").status_code == 403
        assert not IdempotencyRecord.objects.exists()

    @pytest.mark.parametrize("key", ["", "x" * 256, "bad\tkey"])
    def test_a_malformed_key_is_a_400(self, alice, key):
        response = _post(api(alice), url("count-list"), _count_body(), key)
        assert response.status_code == 400
        assert not CivilianCount.objects.exists()

    def test_without_a_key_every_post_creates(self, alice):
        body = _count_body()
        api(alice).post(url("count-list"), body, format="json")
        api(alice).post(url("count-list"), body, format="json")
        assert CivilianCount.objects.count() == 2

    def test_the_hourly_purge_deletes_the_records_older_than_a_day(self, alice):
        body = _count_body()
        with time_machine.travel(NOW - dt.timedelta(days=1, minutes=1), tick=False):
            _post(api(alice), url("count-list"), body, "old")
        with time_machine.travel(NOW - dt.timedelta(hours=23), tick=False):
            _post(api(alice), url("count-list"), body, "recent")
        with time_machine.travel(NOW, tick=False):
            assert tasks.purge_idempotency_records.delay().get() == 1
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]

    def test_the_purge_is_on_the_beat_schedule(self):
        tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
        assert "tracker.purge_idempotency_records" in tasks_scheduled


# --- Pagination and order ---------------------------------------------------------------


class TestPagination:
    @pytest.fixture
    def sources(self, db):
        return _sources(7)

    def test_a_page_says_how_many_there_are_and_links_its_neighbours(self, sources):
        response = api().get(url("source-list", page=2, page_size=3))
        body = response.json()
        assert body["count"] == 7
        assert [row["id"] for row in body["results"]] == [s.pk for s in sources[3:6]]
        assert body["next"].endswith(url("source-list", page=3, page_size=3))
        assert body["previous"].endswith(url("source-list", page_size=3))
        assert response["X-Total-Count"] == "7"
        links = dict((rel, target) for target, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"]))
        assert links == {"next": body["next"], "prev": body["previous"]}

    def test_the_first_and_last_pages_have_no_previous_and_no_next(self, sources):
        first = api().get(url("source-list", page_size=3)).json()
        last = api().get(url("source-list", page=3, page_size=3))
        assert first["previous"] is None
        assert last.json()["next"] is None
        assert 'rel="next"' not in last["Link"]
        assert [row["id"] for row in last.json()["results"]] == [sources[6].pk]

    def test_one_page_has_no_link_header(self, sources):
        assert "Link" not in api().get(url("source-list"))

    def test_the_links_keep_the_filters(self):
        _sources(3)
        factories.SourceFactory(name="Media 1", kind="media")
        factories.SourceFactory(name="Media 2", kind="media")
        body = api().get(url("source-list", kind="media", page_size=1)).json()
        assert "kind=media" in body["next"]
        assert [row["name"] for row in walk(api(), url("source-list", kind="media", page_size=1))] == [
            "Media 1",
            "Media 2",
        ]

    def test_the_default_page_holds_fifty(self):
        _sources(51)
        body = api().get(url("source-list")).json()
        assert (len(body["results"]), body["count"]) == (50, 51)

    @pytest.mark.parametrize("page_size", [1, 500])
    def test_a_page_holds_from_one_to_five_hundred(self, sources, page_size):
        body = api().get(url("source-list", page_size=page_size)).json()
        assert len(body["results"]) == min(page_size, 7)

    @pytest.mark.parametrize("page_size", ["0", "501", "abc", "-1", "1.5", ""])
    def test_any_other_page_size_is_a_400(self, sources, page_size):
        response = api().get(url("source-list", page_size=page_size))
        assert response.status_code == 400
        assert "page_size" in response.json()

    @pytest.mark.parametrize("page", ["4", "0", "abc", "-1"])
    def test_a_page_that_does_not_exist_is_a_404(self, sources, page):
        assert api().get(url("source-list", page=page, page_size=3)).status_code == 404

    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_every_list_is_paginated(self, reader, basename):
        RESOURCES[basename].make(3)
        body = reader(basename).get(url(f"{basename}-list", page_size=2)).json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert len(body["results"]) == 2
        assert body["count"] == RESOURCES[basename].model.objects.count()

    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_equal_sort_keys_are_ordered_by_id_so_pages_neither_repeat_nor_skip(self, reader, basename):
        resource = RESOURCES[basename]
        made = {obj.pk for obj in resource.make(7)}
        seen = [row["id"] for row in walk(reader(basename), url(f"{basename}-list", page_size=2))]
        assert len(seen) == len(set(seen)) == resource.model.objects.count()
        assert made <= set(seen)
        ours = [pk for pk in seen if pk in made]
        assert ours == sorted(ours, reverse=not resource.ascending)


class TestUpdatedSince:
    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_it_orders_by_updated_at_then_id(self, reader, basename):
        resource = RESOURCES[basename]
        objs = resource.make(5)
        base = utc(2030, 1, 1)
        resource.model.objects.update(updated_at=base - dt.timedelta(days=1))
        for obj, seconds in zip(objs, (3, 1, 1, 0, 2), strict=True):
            resource.model.objects.filter(pk=obj.pk).update(updated_at=base + dt.timedelta(seconds=seconds))
        response = reader(basename).get(url(f"{basename}-list", updated_since="2030-01-01T02:00:00+02:00"))
        assert ids(response) == [objs[i].pk for i in (3, 1, 2, 4, 0)]

    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_following_next_misses_no_row_that_moved_to_the_end_meanwhile(self, reader, basename):
        """`next` is a cursor after the page's last row, not an offset that the moved row would shift."""
        resource = RESOURCES[basename]
        resource.make(7)
        client = reader(basename)
        first = client.get(url(f"{basename}-list", updated_since="2000-01-01T00:00:00Z", page_size=3)).json()
        resource.model.objects.filter(pk=first["results"][0]["id"]).update(updated_at=timezone.now())
        seen = {row["id"] for row in first["results"] + walk(client, first["next"])}
        assert seen == {row["id"] for row in walk(client, url(f"{basename}-list", page_size=500))}

    def test_a_client_that_asks_again_from_the_last_updated_at_it_saw_misses_nothing(self, alice, ngo_a):
        """
        Objects changed in the same instant as the last one the client saw are given
        again rather than lost (`updated_since` is inclusive); the client drops the
        duplicates by id.
        """
        counts = _counts(5)
        CivilianCount.objects.update(organisation=ngo_a, created_by=alice)
        with time_machine.travel(NOW, tick=False):
            for count in counts:
                api(alice).patch(url("count-detail", count.pk), {"count": 1}, format="json")
            synced = walk(api(), url("count-list", updated_since="2022-01-01T00:00:00Z", page_size=2))
            assert [row["id"] for row in synced] == sorted(c.pk for c in counts)
            last_seen = synced[-1]["updated_at"]
            # More changes in that very instant, after the client's read...
            api(alice).patch(url("count-detail", counts[0].pk), {"count": 2}, format="json")
        with time_machine.travel(NOW + dt.timedelta(seconds=1), tick=False):
            # ...and later.
            api(alice).patch(url("count-detail", counts[1].pk), {"count": 3}, format="json")
        again = walk(api(), url("count-list", updated_since=last_seen, page_size=2))
        by_id = {row["id"]: row for row in again}
        assert by_id[counts[0].pk]["count"] == 2
        assert by_id[counts[1].pk]["count"] == 3

    def test_without_it_the_list_keeps_its_own_order(self):
        counts = _counts(3)
        CivilianCount.objects.filter(pk=counts[0].pk).update(updated_at=utc(2030, 1, 1))
        assert ids(api().get(url("count-list"))) == [c.pk for c in reversed(counts)]


# --- CSV with HXL hashtags ---------------------------------------------------------


class TestCSV:
    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_every_list_is_csv_with_a_hashtag_on_every_column(self, reader, basename):
        RESOURCES[basename].make(3)
        client = reader(basename)
        as_json = client.get(url(f"{basename}-list")).json()
        response = client.get(url(f"{basename}-list", format="csv"))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        dataset = hxl_dataset(response.content)
        columns = list(dataset.columns)
        untagged = [column.header for column in columns if not column.display_tag]
        assert untagged == [], f"{basename}: columns without an HXL hashtag"
        headers = [column.header for column in columns]
        assert headers == list(_flatten(as_json["results"][0]))
        assert [int(row.values[headers.index("id")]) for row in dataset] == [r["id"] for r in as_json["results"]]

    def test_a_csv_page_links_to_the_next_in_its_headers(self):
        _sources(3)
        response = api().get(url("source-list", format="csv", page_size=2))
        assert "format=csv" in response["Link"]
        assert response["X-Total-Count"] == "3"
        assert len(list(hxl_dataset(response.content))) == 2

    @pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.example")', "+1", "-1+2", "@SUM(A1)"])
    def test_text_that_a_spreadsheet_would_run_is_escaped(self, text):
        factories.SourceFactory(name=text)
        factories.SiteFactory(name=text, longitude=-3.5)
        factories.OrganisationFactory(name=text)
        for basename, column in (("source", "name"), ("site", "name"), ("organisation", "name")):
            body = api().get(url(f"{basename}-list", format="csv")).content.decode()
            rows = list(csv.DictReader(io.StringIO(body)))[1:]  # under the hashtag row
            assert rows[0][column] == "'" + text, basename
        sites = list(csv.DictReader(io.StringIO(api().get(url("site-list", format="csv")).content.decode())))
        assert sites[1]["longitude"] == "-3.5"  # numbers are numbers, not formulas

    def test_a_hostility_description_is_escaped_too(self):
        factories.HostilityReportFactory(description="=cmd|' /C calc'!A0")
        dataset = hxl_dataset(api().get(url("hostility-list", format="csv")).content)
        [row] = list(dataset)
        assert row.get("#description") == "'=cmd|' /C calc'!A0"


# --- Throttling ---------------------------------------------------------------------


class TestThrottling:
    @pytest.fixture
    def low_rates(self, settings, monkeypatch):
        """
        Three requests a minute for the public, five for a member of staff. DRF reads
        the rates once, into the throttle class, when it is imported: change both the
        settings (api_settings reloads on setting_changed) and the class. The cache
        they count in is fresh for each test (tests/conftest.py).
        """
        rates = {"anon": "3/minute", "user": "5/minute", "token": "10/minute"}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
        assert rates == api_settings.DEFAULT_THROTTLE_RATES
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
        SimpleRateThrottle.cache.clear()
        yield
        SimpleRateThrottle.cache.clear()

    def statuses(self, client, n):
        return [client.get(url("source-list")).status_code for _ in range(n)]

    @time_machine.travel(NOW, tick=False)
    def test_the_public_beyond_its_rate_gets_429_with_retry_after(self, low_rates):
        assert self.statuses(api(), 3) == [200] * 3
        throttled = api().get(url("source-list"))
        assert throttled.status_code == 429
        assert 1 <= int(throttled["Retry-After"]) <= 60

    @time_machine.travel(NOW, tick=False)
    @pytest.mark.parametrize(
        ("language", "expected"),
        [
            ("en", r"^Too many requests: try again in \d+ seconds?\.$"),
            ("uk", r"^Забагато запитів: спробуйте знову через \d+ (секунду|секунди|секунд)\.$"),
        ],
    )
    def test_the_429_message_is_whole_in_the_clients_language(self, low_rates, language, expected):
        for _ in range(4):
            throttled = api().get(url("source-list"), HTTP_ACCEPT_LANGUAGE=language)
        assert throttled.status_code == 429
        assert re.match(expected, throttled.json()["detail"]), throttled.json()["detail"]

    @time_machine.travel(NOW, tick=False)
    def test_staff_beyond_their_rate_get_429_each_on_their_own(self, low_rates, alice, bob):
        assert self.statuses(api(alice), 5) == [200] * 5
        throttled = api(alice).get(url("source-list"))
        assert throttled.status_code == 429
        assert int(throttled["Retry-After"]) >= 1
        assert self.statuses(api(bob), 1) == [200]

    @time_machine.travel(NOW, tick=False)
    def test_writes_count_too(self, low_rates, alice):
        statuses = [
            api(alice).post(url("source-list"), {"name": f"S{i}", "kind": "media"}, format="json").status_code
            for i in range(6)
        ]
        assert statuses == [201] * 5 + [429]
        assert Source.objects.count() == 5

    def test_the_rate_is_per_minute(self, low_rates):
        with time_machine.travel(NOW, tick=False):
            assert self.statuses(api(), 4) == [200, 200, 200, 429]
        with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
            assert self.statuses(api(), 1) == [200]


# --- Nothing is partly written ------------------------------------------------------


class TestAllOrNothing:
    def test_a_schedule_that_clashes_on_its_second_day_writes_nothing(self, carol):
        corridor = factories.CorridorFactory()
        factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 10), ends_at=utc(2022, 5, 6, 11))
        windows, history = CorridorWindow.objects.count(), CorridorWindow.history.count()
        body = {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": 3}
        with mock.patch("corridors.services.window_save", wraps=corridor_services.window_save) as window_save:
            response = _post(api(carol), url("corridor-schedule", corridor.pk), body, "clash")
        assert window_save.call_count == 2  # the first day's window was saved, then the second's clashed
        assert response.status_code == 400
        assert CorridorWindow.objects.count() == windows
        assert CorridorWindow.history.count() == history
        assert not FlagCheck.objects.exists()
        assert not IdempotencyRecord.objects.exists()

    def test_a_post_that_fails_in_the_service_after_saving_writes_nothing(self, carol):
        """The corridor is saved, then its waypoints fail: the corridor goes with them."""
        origin, destination, stop = factories.SiteFactory(), factories.SiteFactory(), factories.SiteFactory()
        body = {"name": "Doomed", "origin": origin.pk, "destination": destination.pk, "waypoints": [stop.pk]}
        failure = ValidationError({"waypoints": ["The road is cut."]})
        with mock.patch("corridors.services.corridor_set_waypoints", side_effect=failure) as set_waypoints:
            response = _post(api(carol), url("corridor-list"), body, "doomed")
        assert set_waypoints.called
        assert response.status_code == 400
        assert response.json() == {"waypoints": ["The road is cut."]}
        assert not Corridor.objects.exists()
        assert not Corridor.history.exists()
        assert not IdempotencyRecord.objects.exists()

    def test_a_hostility_report_refused_by_its_model_queues_no_flag_check(
        self, carol, django_capture_on_commit_callbacks
    ):
        body = {
            "site": factories.SiteFactory().pk,
            "kind": "shelling",
            "started_at": "2022-05-05T07:00:00Z",
            "ended_at": "2022-05-05T06:00:00Z",
            "source": factories.SourceFactory().pk,
        }
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = api(carol).post(url("hostility-list"), body, format="json")
        assert response.status_code == 400
        assert "ended_at" in response.json()
        assert not HostilityReport.objects.exists()
        assert not HostilityReport.history.exists()
        assert not FlagCheck.objects.exists()
        assert callbacks == []


# --- Queries ----------------------------------------------------------------------------


class TestQueryCount:
    """Every list runs the same number of queries for a page of 3 as for a page of 30 (STYLE.md 7)."""

    @pytest.mark.parametrize("form", ["json", "csv"])
    @pytest.mark.parametrize("basename", LIST_ENDPOINTS)
    def test_a_lists_queries_do_not_grow_with_its_page(self, reader, basename, form):
        RESOURCES[basename].make(31)
        assert RESOURCES[basename].model.objects.count() >= 31
        client = reader(basename)
        counts = []
        for page_size in (3, 30):
            query = {"page_size": page_size} | ({"format": "csv"} if form == "csv" else {})
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url(f"{basename}-list", **query))
            assert response.status_code == 200
            counts.append(len(queries))
        assert counts[0] == counts[1], counts

    def test_a_coordinator_reading_restricted_sites_costs_no_more_per_site(self, carol):
        _sites(31)
        counts = []
        for page_size in (3, 30):
            with CaptureQueriesContext(connection) as queries:
                api(carol).get(url("site-list", page_size=page_size))
            counts.append(len(queries))
        assert counts[0] == counts[1], counts
