"""
The account pages in a real browser on a phone: a coordinator turns on two-factor
authentication with a code computed from the secret the page shows, logs in again
with the app's next code, and changes her password; every page passes axe-core in
both languages, fits 360 px and breaks no rule of the Content Security Policy.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import log_in, no_horizontal_scroll
from tests.browser.test_accessibility import violations
from tests.logins import secret_code

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a different horse, stapled"


def test_a_coordinator_on_a_phone_turns_on_two_factor_and_logs_in_with_it(
    phone, live_server, coordinator, settings, csp
):
    settings.STAFF_2FA_REQUIRED = True
    phone.goto(f"{live_server.url}/en/staff/login/")
    phone.get_by_label("User name").fill(coordinator.username)
    phone.get_by_label("Password").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Log in").click()

    # Sent to enrol before anything else.
    expect(phone.get_by_role("heading", name="Turn on two-factor authentication")).to_be_visible()
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    qr = phone.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert phone.evaluate("img => img.naturalWidth > 0", qr.element_handle())
    secret = phone.locator("code.secret").inner_text()
    phone.goto(f"{live_server.url}/en/staff/")
    expect(phone.get_by_role("heading", name="Turn on two-factor authentication")).to_be_visible()

    now = timezone.now()
    phone.get_by_label("Code").fill(secret_code(secret, now))
    phone.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(phone.get_by_role("heading", name="Your backup codes")).to_be_visible()
    assert phone.locator(".backup-codes li").count() == 10
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    phone.get_by_role("link", name="I have kept them: continue").click()
    expect(phone.get_by_role("heading", name="My figures")).to_be_visible()

    # The next login asks for the app's code (the next one: a code works once).
    phone.get_by_role("button", name=re.compile("Log out")).click()
    phone.goto(f"{live_server.url}/uk/staff/login/")
    phone.get_by_label("Ім’я користувача").fill(coordinator.username)
    phone.get_by_label("Пароль").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Увійти").click()
    expect(phone.get_by_role("heading", name="Код двофакторної автентифікації")).to_be_visible()
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    phone.get_by_label("Код").fill(secret_code(secret, now + dt.timedelta(seconds=30)))
    phone.get_by_role("button", name="Продовжити").click()
    expect(phone.get_by_role("heading", name="Мої дані")).to_be_visible()

    phone.get_by_role("link", name="Двофакторна автентифікація").click()
    expect(phone.get_by_role("heading", name="Двофакторна автентифікація")).to_be_visible()
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    assert csp.violations == []


@pytest.mark.parametrize("language", ["en", "uk"])
def test_a_reporter_changes_her_password_on_a_phone(phone, live_server, reporter, csp, language):
    log_in(phone, live_server, reporter)
    phone.goto(f"{live_server.url}/{language}/staff/password/")
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
    fields = phone.locator("input[type=password]")
    fields.nth(0).fill(factories.PASSWORD)
    fields.nth(1).fill(NEW_PASSWORD)
    fields.nth(2).fill(NEW_PASSWORD + " typo")
    phone.locator("form.staff-form button[type=submit]").click()
    expect(phone.locator(".form-errors")).to_be_visible()
    assert violations(phone) == []
    fields = phone.locator("input[type=password]")
    fields.nth(0).fill(factories.PASSWORD)
    fields.nth(1).fill(NEW_PASSWORD)
    fields.nth(2).fill(NEW_PASSWORD)
    phone.locator("form.staff-form button[type=submit]").click()
    expect(phone.get_by_role("status")).to_contain_text(
        "Your password is changed" if language == "en" else "Пароль змінено"
    )
    reporter.refresh_from_db()
    assert reporter.check_password(NEW_PASSWORD)
    assert csp.violations == []


def test_the_reset_and_lockout_pages_pass_axe_on_a_phone(phone, live_server, reporter, settings):
    for path in ("/en/staff/password-reset/", "/uk/staff/password-reset/", "/uk/staff/password-reset/sent/"):
        phone.goto(live_server.url + path)
        assert no_horizontal_scroll(phone), path
        assert violations(phone) == [], path
    settings.AXES_FAILURE_LIMIT = 1
    phone.goto(f"{live_server.url}/uk/staff/login/")
    phone.get_by_label("Ім’я користувача").fill(reporter.username)
    phone.get_by_label("Пароль").fill("not the password")
    phone.get_by_role("button", name="Увійти").click()
    expect(phone.get_by_role("heading", name="Вхід призупинено")).to_be_visible()
    assert no_horizontal_scroll(phone)
    assert violations(phone) == []
