"""
Whole data sets (docs/api.md, "Downloads"): `/api/v1/downloads/` lists every public
list in full (CSV with HXL, GeoJSON for the spatial ones, one XLSX workbook) with size,
rows, checksum and when it was made; `/api/v1/downloads/<name>` gives the file. Each is
read here as a data user would: pandas, libhxl, the `geojson` package. What they say is
what the public may read: a restricted site coarsened, no staff account.
"""

from __future__ import annotations

import hashlib
import io
import uuid

import geojson
import pandas as pd
import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from corridors import flagging
from tests import factories
from tests.api import api, hxl_dataset, url
from tracker import tasks
from tracker.api import downloads
from tracker.celery import app as celery_app

pytestmark = pytest.mark.django_db
SHELTER = (47.123456, 37.567891)


@pytest.fixture(autouse=True)
def _own_folder(settings, tmp_path):
    settings.DOWNLOADS_DIR = tmp_path / "downloads"


@pytest.fixture
def world(alice, carol):
    shelter = factories.SiteFactory(
        name="Plant shelter", kind="shelter", restricted=True, latitude=SHELTER[0], longitude=SHELTER[1]
    )
    city = factories.SiteFactory(name="Zaporizhzhia", latitude=47.8388, longitude=35.1396)
    corridor = factories.CorridorFactory(name="Plant → Zaporizhzhia", origin=shelter, destination=city)
    factories.WindowFactory(corridor=corridor)
    factories.CivilianCountFactory(site=shelter, count=200, organisation=alice.organisation, created_by=alice)
    report = factories.HostilityReportFactory(site=shelter, organisation=alice.organisation, created_by=alice)
    flagging.flags_check_reports(report_ids=[report.pk], now=report.started_at)
    return shelter


def listing():
    response = api().get(url("download-list"))
    assert response.status_code == 200, response.content
    return {entry["name"]: entry for entry in response.json()}


def fetch(name, client=None):
    response = (client or api()).get(url("download", name))
    assert response.status_code == 200, response.content[:300]
    return response, b"".join(response.streaming_content)


def test_the_listing_names_every_file_with_its_size_rows_and_checksum(world):
    entries = listing()
    assert set(entries) >= {"counts.csv", "sites.csv", "sites.geojson", "corridors.geojson", "flag-events.csv"}
    assert "tracker.xlsx" in entries
    assert not any(name.startswith("users") for name in entries)
    for name, entry in entries.items():
        response, body = fetch(name)
        assert entry["size"] == len(body), name
        assert entry["sha256"] == hashlib.sha256(body).hexdigest(), name
        assert response["ETag"] == f'"{entry["sha256"]}"'
        assert entry["url"].endswith(f"/api/v1/downloads/{name}")
    assert entries["counts.csv"]["rows"] == 1
    assert entries["sites.csv"]["rows"] == 2
    assert entries["flag-events.csv"]["rows"] == 1


def test_every_csv_reads_with_pandas_and_libhxl(world):
    for name in downloads.names():
        if not name.endswith(".csv"):
            continue
        _response, body = fetch(name)
        # The hashtag row is the first row under the header: pandas skips it.
        frame = pd.read_csv(io.BytesIO(body), skiprows=[1])
        assert len(frame) == listing()[name]["rows"], name
        assert "id" in frame.columns
        dataset = hxl_dataset(body)
        assert dataset.columns, name
        assert len(list(dataset)) == len(frame), name


def test_the_public_csv_has_coarse_positions_and_no_staff(world):
    _response, sites = fetch("sites.csv")
    frame = pd.read_csv(io.BytesIO(sites), skiprows=[1]).set_index("name")
    assert (frame.loc["Plant shelter", "latitude"], frame.loc["Plant shelter", "longitude"]) == (47.1, 37.6)
    _response, counts = fetch("counts.csv")
    frame = pd.read_csv(io.BytesIO(counts), skiprows=[1])
    assert frame["created_by"].isna().all()
    assert frame["count"].tolist() == [200]


def test_a_coordinator_gets_the_public_version_too(world, carol):
    _response, body = fetch("sites.geojson", api(carol))
    features = {f["properties"]["name"]: f for f in geojson.loads(body.decode())["features"]}
    assert features["Plant shelter"]["geometry"]["coordinates"] == [37.6, 47.1]


def test_every_geojson_loads_in_lon_lat_and_coarse(world):
    for name in ("sites.geojson", "corridors.geojson", "hostilities.geojson"):
        _response, body = fetch(name)
        collection = geojson.loads(body.decode())
        assert collection.is_valid, (name, collection.errors())
        assert len(collection["features"]) == listing()[name]["rows"]
        for feature in collection["features"]:
            points = feature["geometry"]["coordinates"]
            points = points if feature["geometry"]["type"] == "LineString" else [points]
            for longitude, latitude in points:
                assert 30 < longitude < 40 and 45 < latitude < 50, (name, points)  # lon/lat, in Ukraine
                assert (longitude, latitude) != (SHELTER[1], SHELTER[0])
    _response, body = fetch("corridors.geojson")
    (corridor,) = geojson.loads(body.decode())["features"]
    assert corridor["geometry"]["coordinates"][0] == [37.6, 47.1]
    assert corridor["properties"]["flagged"] is True


def test_the_workbook_has_a_sheet_per_list(world):
    _response, body = fetch("tracker.xlsx")
    sheets = pd.read_excel(io.BytesIO(body), sheet_name=None, skiprows=[1], engine="openpyxl")
    assert list(sheets)[:4] == ["organisations", "sources", "sites", "counts"]
    assert len(sheets["sites"]) == 2
    assert sheets["sites"].set_index("name").loc["Plant shelter", "latitude"] == 47.1
    assert sheets["flag-events"]["site_name"].tolist() == ["Plant shelter"]


def test_a_change_makes_a_new_version_and_the_same_data_does_not(world):
    first = listing()["counts.csv"]
    assert listing()["counts.csv"] == first  # the same data: the same file, made once
    factories.CivilianCountFactory(site=world, count=150)
    again = listing()["counts.csv"]
    assert again["rows"] == 2
    assert again["sha256"] != first["sha256"]


def test_an_unknown_name_is_a_404(world):
    assert api().get(url("download", "users.csv")).status_code == 404
    assert api().get(url("download", "..%2Fsettings.py")).status_code == 404


def test_if_none_match_with_the_checksum_is_a_304(world):
    entry = listing()["sites.csv"]
    response = api().get(url("download", "sites.csv"), HTTP_IF_NONE_MATCH=f'"{entry["sha256"]}"')
    assert response.status_code == 304


def test_a_file_is_made_a_chunk_at_a_time(world, monkeypatch):
    """The objects are read and represented a chunk at a time: a list longer than the chunk is never held whole."""
    monkeypatch.setattr(downloads, "CHUNK", 3)
    for n in range(8):
        factories.SiteFactory(name=f"Village {n}")
    seen = []
    original = downloads._represent

    def spy(view, batch):
        seen.append(len(batch))
        return original(view, batch)

    monkeypatch.setattr(downloads, "_represent", spy)
    # The file alone (a request builds every file: the sheet and the layer would read the sites too).
    out = io.BytesIO()
    downloads.write("sites.csv", out, now=timezone.now())
    body = out.getvalue()
    assert len(pd.read_csv(io.BytesIO(body), skiprows=[1])) == 10
    assert seen == [3, 3, 3, 1]


@pytest.mark.postgres
def test_on_postgresql_copy_writes_the_same_cells_as_the_python_path(world, alice):
    """The COPY path (downloads.copy_statement) against the serializers', on values that test its formatting."""
    import csv
    import datetime as dt

    from tracker.api.views import CivilianCountViewSet, SourceViewSet

    when = dt.datetime(2022, 5, 5, 5, 0, tzinfo=dt.UTC)
    factories.CivilianCountFactory(site=world, as_of=when, count=7, count_high=9, created_by=alice)
    factories.CivilianCountFactory(site=world, as_of=when.replace(microsecond=120), qualifier="at_least")
    factories.SourceFactory(name="=HYPERLINK(1)", url="https://a.example/?q=1,2")
    factories.SourceFactory(name='Say "no", then\nleave', url="https://b.example")
    for viewset in (CivilianCountViewSet, SourceViewSet):
        view = downloads.public_view(viewset, now=when)
        assert downloads.copy_statement(view) is not None
        fast, slow = io.BytesIO(), io.BytesIO()
        assert downloads.write_csv(view, fast) == downloads.write_csv(view, slow, fast=False)
        read = [list(csv.reader(io.StringIO(b.getvalue().decode(), newline=""))) for b in (fast, slow)]
        assert read[0] == read[1]
        assert len(read[0]) > 3


def test_the_files_of_an_old_version_are_deleted_after_a_grace_time(world, settings):
    import os
    import time

    listing()
    (old,) = list(settings.DOWNLOADS_DIR.iterdir())
    factories.CivilianCountFactory(site=world, count=150)
    listing()  # a new version; the old one was written just now: kept a while
    assert old.exists()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    factories.CivilianCountFactory(site=world, count=160)
    listing()
    assert not old.exists()
    assert len(list(settings.DOWNLOADS_DIR.iterdir())) == 2  # the current version and the one before it


@pytest.fixture
def no_worker(monkeypatch):
    """Celery not eager (a broker, a worker somewhere): a build queued is recorded, not run."""
    celery_app.conf.task_always_eager = False  # put back by tests/conftest.py's _tasks_run_eagerly
    monkeypatch.setattr(downloads, "cache", LocMemCache(f"downloads-{uuid.uuid4()}", {}))
    queued = []
    monkeypatch.setattr(tasks.build_downloads, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))
    return queued


def every_file(folder):
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


def test_a_request_never_builds_it_serves_the_last_complete_version_and_queues_one_build(world, settings, request):
    first = listing()  # eager: built in the request, as in the embedded default
    _response, old_counts = fetch("counts.csv")
    queued = request.getfixturevalue("no_worker")
    factories.CivilianCountFactory(site=world, count=150)
    before = every_file(settings.DOWNLOADS_DIR)
    assert listing() == first  # at once, the previous version, generated_at saying how old
    response, body = fetch("counts.csv")
    assert body == old_counts
    assert response["ETag"] == f'"{first["counts.csv"]["sha256"]}"'
    assert len(queued) == 1  # two requests, one build queued (the claim)
    assert every_file(settings.DOWNLOADS_DIR) == before  # nothing made in a request
    tasks.build_downloads()  # the worker
    again = listing()
    assert again["counts.csv"]["rows"] == 2
    assert again["counts.csv"]["generated_at"] >= first["counts.csv"]["generated_at"]
    assert len(queued) == 1  # the current version is complete: nothing more to queue


def test_before_any_version_is_made_the_downloads_are_a_503_with_retry_after(world, no_worker, settings):
    response = api().get(url("download-list"))
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "first time" in response.json()["detail"]
    response = api().get(url("download", "counts.csv"), HTTP_ACCEPT_LANGUAGE="uk")
    assert response.status_code == 503
    assert "вперше" in response.json()["detail"]
    assert len(no_worker) == 1
    assert not list(settings.DOWNLOADS_DIR.rglob("*.csv"))
    tasks.build_downloads()
    assert listing()["counts.csv"]["rows"] == 1


def test_a_build_held_by_another_builder_is_left_to_it(world, settings):
    version = downloads.data_version(timezone.now())
    folder = settings.DOWNLOADS_DIR / version
    folder.mkdir(parents=True)
    with downloads._locked(folder) as held:
        assert held
        assert downloads.build() is None  # another process (flock is per open file) would return at once too
        assert not (folder / downloads.COMPLETE).exists()
    assert downloads.build() == version
    assert (folder / downloads.COMPLETE).exists()


def test_beat_builds_the_downloads_periodically():
    from django.conf import settings as django_settings

    entry = django_settings.CELERY_BEAT_SCHEDULE["downloads-build"]
    assert entry["task"] == tasks.build_downloads.name
    assert entry["schedule"] == django_settings.DOWNLOADS_REFRESH_INTERVAL
