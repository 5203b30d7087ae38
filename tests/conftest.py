"""
Shared fixtures: the personas every test speaks of, and the guard that keeps tests
needing real services from silently skipping in CI.

Personas (like healthchecks' hc/test.py):
- alice: reporter at NGO A ("Helping Hands")
- bob:   reporter at NGO B ("Open Road")
- carol: coordinator at NGO A
- dave:  admin, in no organisation
- the public: a client that is not logged in
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.utils import translation
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.throttling import SimpleRateThrottle

from tests import factories
from tracker import pagecache
from tracker.celery import app as celery_app
from tracker.logs import _Throttle
from tracker.models import Role

hypothesis_settings.register_profile("dev", max_examples=100, deadline=None)
hypothesis_settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Set by .ci/run: a test that needs a service must fail, not skip, when it is missing.
REQUIRE_SERVICES = os.environ.get("TRACKER_REQUIRE_SERVICES") == "1"


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (TRACKER_REQUIRE_SERVICES=1: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    Browser tests run last. Playwright's sync API keeps an asyncio loop running in the
    test thread from its first test to the end of the session, and Django takes every
    later ORM call in that thread for one made from async code.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    needs_postgres = item.get_closest_marker("postgres") or item.get_closest_marker("worker")
    if needs_postgres and engine != "django.db.backends.postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://...")
    needs_redis = item.get_closest_marker("redis") or item.get_closest_marker("worker")
    if needs_redis and not settings.REDIS_URL:
        _missing("needs Redis: set REDIS_URL=redis://...")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if item.get_closest_marker("browser") and not (os.path.exists(chromium) or shutil.which("chromium")):
        _missing("needs Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chromium)")


@pytest.fixture(autouse=True)
def _tasks_run_eagerly():
    """
    Tests run Celery tasks in-process, as the embedded default does, even when
    REDIS_URL is set for the integration tests; those start a real worker and
    switch this off for themselves.
    """
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_throttles(monkeypatch):
    """
    The API's throttles count requests in the cache, which outlives a test (and, with
    time frozen, never forgets): each test gets its own empty one, so the requests of
    earlier tests never make a later one 429. Not `cache.clear()`: with REDIS_URL the
    cache shares Redis with the Celery broker.
    """
    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache(f"throttles-{uuid.uuid4()}", {}))


@pytest.fixture(autouse=True)
def _fresh_warning_throttle(monkeypatch):
    """
    Which rate-limited warnings were said lately (tracker/logs.py) is kept per process:
    each test starts with none, so that a warning one test caused never hides another's.
    """
    monkeypatch.setattr("tracker.logs._throttle", _Throttle())


@pytest.fixture(autouse=True)
def _fresh_page_cache(monkeypatch):
    """
    The public pages are kept in the cache (tracker/pagecache.py), which outlives a
    test whose writes are rolled back: each test gets its own empty one, as the
    throttles do. A test of the pages kept across processes (a real worker) uses
    the real cache.
    """
    monkeypatch.setattr(pagecache, "cache", LocMemCache(f"pages-{uuid.uuid4()}", {}))
    monkeypatch.setattr(pagecache, "local", pagecache.Local())
    # The parts of pages kept by content (tracker/templatetags/fragments.py): each test renders its own.
    caches["fragments"].clear()


@pytest.fixture(autouse=True)
def _default_language():
    """
    A request through the test client activates its page's language in this thread and
    leaves it active (Django's LocaleMiddleware): a test that ends on a /uk/ page would
    make the next test's messages Ukrainian. Each test starts in the default language.
    """
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _second_factor_not_required(settings):
    """
    Tests log in with a password alone (force_login, client.login, the browser's login
    page), as in the embedded demo; the tests of two-factor authentication turn it on.
    """
    settings.STAFF_2FA_REQUIRED = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ngo_a(db):
    return factories.OrganisationFactory(name="Helping Hands", acronym="HH")


@pytest.fixture
def ngo_b(db):
    return factories.OrganisationFactory(name="Open Road", acronym="OR")


@pytest.fixture
def alice(ngo_a):
    return factories.UserFactory(username="alice", organisation=ngo_a, role=Role.REPORTER)


@pytest.fixture
def bob(ngo_b):
    return factories.UserFactory(username="bob", organisation=ngo_b, role=Role.REPORTER)


@pytest.fixture
def carol(ngo_a):
    return factories.UserFactory(username="carol", organisation=ngo_a, role=Role.COORDINATOR)


@pytest.fixture
def dave(db):
    return factories.UserFactory(username="dave", organisation=None, role=Role.ADMIN)


@pytest.fixture
def public(client):
    """A browser that is not logged in."""
    return client


@pytest.fixture
def login(client):
    """Log a persona in on the test client: `login(alice)`."""

    def _login(user):
        client.force_login(user)
        return client

    return _login
