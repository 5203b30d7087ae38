"""
Browser tests: Debian's Chromium (Playwright's own browser download is not used)
drives the app on pytest-django's live server, with the demo data. Every request to
a host other than the live server is blocked, as on a network that reaches nothing
else: the map's tiles, any CDN, anything.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests import factories
from tracker.models import Role

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Generous: two cores shared with other test runs.
TIMEOUT_MS = 30_000
PHONE = {"width": 360, "height": 740}
expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str | None:
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@pytest.fixture(scope="session", autouse=True)
def _database_before_browser(django_db_setup):
    """Create the test database before Playwright starts its event loop (see below)."""


@pytest.fixture(scope="package", autouse=True)
def _synchronous_orm_beside_playwright():
    """
    Playwright's sync API keeps an asyncio loop running in the test thread, so Django
    takes the tests' own ORM calls for calls from async code. They are plain synchronous
    code: these tests, never the app, say so, and only while they run.
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def base_url():
    """Tests use live_server.url. (Replaces pytest-playwright's, which pytest 9 warns about.)"""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}


class Offline:
    """Blocks every request that is not for the live server, and remembers what it blocked."""

    def __init__(self, allowed_origin: str) -> None:
        self.allowed = urlsplit(allowed_origin).netloc
        self.blocked: list[str] = []

    def __call__(self, route) -> None:
        if urlsplit(route.request.url).netloc == self.allowed:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")


class Csp:
    """Collects the console's Content Security Policy violations."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def __call__(self, message) -> None:
        if re.search(r"Content Security Policy|Refused to (execute|apply|load)", message.text):
            self.violations.append(message.text)


@pytest.fixture
def offline(live_server):
    return Offline(live_server.url)


@pytest.fixture
def csp():
    return Csp()


@pytest.fixture
def context(context, offline, csp):
    """Every page of the test's default context is offline, and its CSP violations are recorded."""
    context.route("**/*", offline)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("page", lambda page: page.on("console", csp))
    return context


@pytest.fixture
def page(context, csp):
    page = context.new_page()
    page.on("console", csp)
    return page


@pytest.fixture
def phone(browser, offline, csp):
    """A page in a 360 px wide phone-sized window, offline like the others."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    context.route("**/*", offline)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", csp)
    yield page
    context.close()


@pytest.fixture
def demo(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def reporter(transactional_db):
    organisation = factories.OrganisationFactory(name="Demo Humanitarian Monitor")
    return factories.UserFactory(username="field-reporter", organisation=organisation, role=Role.REPORTER)


@pytest.fixture
def coordinator(transactional_db):
    organisation = factories.OrganisationFactory(name="Demo Humanitarian Monitor")
    return factories.UserFactory(username="field-coordinator", organisation=organisation, role=Role.COORDINATOR)


def log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/en/staff/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My figures").wait_for()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
