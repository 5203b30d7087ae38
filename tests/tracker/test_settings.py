"""Settings come from the environment and fail loudly; the deploy check passes in production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tracker import settings as tracker_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "tracker.example.org",
    "DATABASE_URL": "postgres://tracker@db.example.org/tracker",
    "REDIS_URL": "redis://cache.example.org:6379/0",
}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {*PRODUCTION, "TIME_ZONE", "CELERY_BROKER_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "0", "ALLOWED_HOSTS": "a.org"}, "SECRET_KEY is not set"),
        ({"DEBUG": "0", "SECRET_KEY": "short", "ALLOWED_HOSTS": "a.org"}, "SECRET_KEY is too weak"),
        ({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}, "ALLOWED_HOSTS is empty"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"TIME_ZONE": "Europe/Atlantis"}, "TIME_ZONE='Europe/Atlantis' is not an IANA time zone"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "must point to PostgreSQL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"CELERY_TASK_TIME_LIMIT": "soon"}, "CELERY_TASK_TIME_LIMIT='soon' is not a whole number"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_message_naming_it(env, message):
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_the_deploy_check_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_embedded_default_needs_no_services():
    assert tracker_settings.DATABASES["default"]["ENGINE"].endswith(("sqlite3", "postgresql"))
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    assert tracker_settings.CELERY_TASK_ALWAYS_EAGER is (not broker)
    assert (broker or "memory://localhost/") == tracker_settings.CELERY_BROKER_URL
    assert tracker_settings.CELERY_TASK_EAGER_PROPAGATES


def test_celery_is_configured_not_to_lose_tasks():
    assert tracker_settings.CELERY_TASK_ACKS_LATE
    assert tracker_settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert tracker_settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert tracker_settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert (
        tracker_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > tracker_settings.CELERY_TASK_TIME_LIMIT
    )


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    for raw, value in [("1", True), ("Yes", True), ("off", False), ("", False)]:
        monkeypatch.setenv("SOME_FLAG", raw)
        assert tracker_settings.env_bool("SOME_FLAG", not value) is value
    monkeypatch.setenv("SOME_FLAG", "2")
    with pytest.raises(ImproperlyConfigured):
        tracker_settings.env_bool("SOME_FLAG", False)


def test_there_are_no_missing_migrations():
    result = manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
