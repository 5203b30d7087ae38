"""
What a newcomer reads on a first `scripts/run`: the demo logins, where the app is, one
line per request, one warning per request that deserves one; no warnings about a broker
the embedded mode does not use, no log line per demo row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from tests.live import ROOT, free_port


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The whole output of `scripts/run` on a fresh database, after a page and a missing page were asked for."""
    port = free_port()
    output = tmp_path_factory.mktemp("first-run") / "output.txt"
    database = output.parent / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL"}}
    env.update(PORT=str(port), DATABASE_URL=f"sqlite:///{database}", PYTHONUNBUFFERED="1")
    with output.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                assert requests.get(f"{base}/en/", timeout=30).status_code == 200
                break
            except requests.ConnectionError:
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(1)
        assert requests.get(f"{base}/en/no-such-page/", timeout=30).status_code == 404
        time.sleep(1)  # runserver writes its line after the response
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return output.read_text()


def test_a_first_run_prints_the_logins_and_where_the_app_is(first_run):
    assert "Demo scenario loaded" in first_run
    assert "Demo logins (new passwords each time this runs):" in first_run
    assert "coordinator" in first_run and "reporter" in first_run
    assert "The dashboard: http://127.0.0.1:" in first_run
    assert '"GET /en/ HTTP/1.1" 200' in first_run


def test_a_first_run_warns_about_no_broker_it_does_not_use(first_run):
    assert "No hostname was supplied" not in first_run
    assert "kombu.connection" not in first_run


def test_a_request_is_logged_once_and_its_warning_once(first_run):
    assert first_run.count('"GET /en/no-such-page/ HTTP/1.1" 404') == 1
    assert first_run.count("Not Found: /en/no-such-page/") == 1
    assert first_run.count("Watching for file changes") <= 1


def test_a_first_run_does_not_log_every_demo_row(first_run):
    # Kept in the security log and the flags' history: a newcomer need not read them scroll by.
    assert "event=account_created" not in first_run
    assert "event=flag_raised" not in first_run
    assert "Applying tracker.0001_initial" not in first_run
