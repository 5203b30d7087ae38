"""The API's browsable docs (Swagger UI) in a real browser: served by the app alone, within its CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_swagger_ui_shows_the_api_offline_and_within_the_content_security_policy(page, live_server, offline, csp):
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_role("heading", name="Evacuation tracker API")).to_be_visible()
    expect(page.get_by_text("/api/v1/sites/{id}/").first).to_be_visible()
    assert csp.violations == []
    assert offline.blocked == []
