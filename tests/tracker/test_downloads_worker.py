"""
The whole data sets as production makes them: PostgreSQL, a private `redis-server`, a
real `celery worker` process. A request never builds: it queues the build and answers
at once (503 before the first version, then the last complete one); the worker builds
and the next request serves what it made.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache

from tests import factories
from tests.api import api, url
from tests.corridors.test_flag_worker import publishing_to
from tests.live import PrivateRedis, wait_for, worker
from tracker.api import downloads
from tracker.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def counts_rows():
    response = api().get(url("download-list"))
    if response.status_code != 200:
        return None
    return {entry["name"]: entry for entry in response.json()}["counts.csv"]["rows"]


def test_the_worker_builds_the_downloads_and_requests_serve_them(settings, tmp_path, redis_server, monkeypatch):
    folder = tmp_path / "downloads"
    settings.DOWNLOADS_DIR = folder
    # The claims in a cache of this test's own (the shared Redis outlives it).
    monkeypatch.setattr(downloads, "cache", LocMemCache(f"downloads-{uuid.uuid4()}", {}))
    celery_app.conf.task_always_eager = False  # the autouse fixture restores it
    site = factories.SiteFactory(name="Zaporizhzhia")
    factories.CivilianCountFactory(site=site, count=200)
    process = worker(tmp_path, redis_server.url, DOWNLOADS_DIR=str(folder))
    try:
        with publishing_to(redis_server.url):
            first = api().get(url("download-list"))
            assert first.status_code == 503, first.content
            assert first["Retry-After"]
            assert wait_for(counts_rows, 120, "the worker built the first version") == 1
            assert (folder / downloads.data_version(downloads.timezone.now()) / downloads.COMPLETE).exists()

            factories.CivilianCountFactory(site=site, count=150)
            assert counts_rows() == 1  # at once: the last complete version; a build queued
            wait_for(lambda: counts_rows() == 2, 120, "the worker built the new version")
    finally:
        process.stop()
    assert "tracker.build_downloads" in process.output()
