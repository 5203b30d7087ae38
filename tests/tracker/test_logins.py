"""
Password guessing, tried the way an attacker would, on every login path: the staff
login page in both languages, the admin's, and the API's token endpoint. django-axes
locks an account name, and an address, after LOGIN_FAILURE_LIMIT failures; until
the cool-off has passed the right password does not let anyone in, and the person is
told so in words that do not say whether the account exists.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from axes.exceptions import AxesBackendRequestParameterRequired
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests import factories
from tracker.models import SecurityEvent

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)
TOKEN_URL = "/api/v1/auth/token/"
PAGES = ["/en/staff/login/", "/uk/staff/login/", "/admin/login/"]
LOCKED_EN = "Too many failed attempts to log in."
LOCKED_UK = "Забагато невдалих спроб увійти."


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def attempt(path: str, username: str, password: str, client=None, **extra):
    """One login attempt on `path`, with a fresh client unless one is given (an attacker keeps no cookies)."""
    if path == TOKEN_URL:
        return (client or APIClient()).post(TOKEN_URL, {"username": username, "password": password}, **extra)
    return (client or Client()).post(path, {"username": username, "password": password}, **extra)


def logged_in(path: str, response) -> bool:
    if path == TOKEN_URL:
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302 and "sessionid" in response.cookies


@pytest.mark.parametrize("path", [*PAGES, TOKEN_URL])
def test_forty_guesses_lock_the_account_and_the_right_password_waits_for_the_cool_off(path, alice, settings, _clock):
    limit, cool_off = settings.AXES_FAILURE_LIMIT, dt.timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    statuses = [attempt(path, "alice", f"guess {i}").status_code for i in range(40)]
    refused = 400 if path == TOKEN_URL else 200  # the form again, with its error
    assert statuses == [refused] * (limit - 1) + [429] * (40 - limit + 1)

    right = attempt(path, "alice", factories.PASSWORD)
    assert right.status_code == 429
    assert not logged_in(path, right)
    assert 0 < int(right["Retry-After"]) <= cool_off.total_seconds()
    assert not AuthToken.objects.exists()

    # Nearly over: still locked (and this try, like every other, starts the cool-off again).
    _clock.shift(cool_off - dt.timedelta(seconds=5))
    assert attempt(path, "alice", factories.PASSWORD).status_code == 429
    _clock.shift(cool_off + dt.timedelta(seconds=1))
    assert logged_in(path, attempt(path, "alice", factories.PASSWORD))


@pytest.mark.parametrize(("path", "words"), [("/en/staff/login/", LOCKED_EN), ("/uk/staff/login/", LOCKED_UK)])
def test_the_lockout_page_says_what_happened_in_the_readers_language(path, words, alice, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(path, "alice", f"guess {i}")
    html = response.content.decode()
    assert response.status_code == 429
    assert words in html
    assert "/staff/password-reset/" in html


def test_the_admin_login_lockout_follows_the_browsers_language(alice, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        response = attempt("/admin/login/", "alice", f"guess {i}", HTTP_ACCEPT_LANGUAGE="uk")
    assert response.status_code == 429
    assert LOCKED_UK in response.content.decode()


@pytest.mark.parametrize("path", ["/en/staff/login/", TOKEN_URL])
def test_an_unknown_account_is_refused_and_locked_out_exactly_like_a_real_one(path, alice, settings):
    def answers(username: str) -> list[tuple[int, bytes]]:
        out = []
        for i in range(settings.AXES_FAILURE_LIMIT + 1):
            response = attempt(path, username, f"guess {i}", REMOTE_ADDR=f"192.0.2.{len(username)}")
            body = response.content.replace(username.encode(), b"NAME")
            out.append((response.status_code, b"" if b"csrfmiddlewaretoken" in body else body))
        return out

    assert answers("alice") == answers("nobody")


def test_guesses_at_one_name_from_many_addresses_lock_that_name(alice, bob, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt("/en/staff/login/", "alice", f"guess {i}", REMOTE_ADDR=f"198.51.100.{i}")
    # From an address that never failed, alice's right password is still refused; bob is not locked.
    assert attempt("/en/staff/login/", "alice", factories.PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert logged_in("/en/staff/login/", attempt("/en/staff/login/", "bob", factories.PASSWORD))


def test_guesses_at_many_names_from_one_address_lock_that_address(alice, bob, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt("/en/staff/login/", f"someone{i}", "guess", REMOTE_ADDR="198.51.100.7")
    assert attempt("/en/staff/login/", "alice", factories.PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 429
    # Elsewhere alice logs in: her name was never guessed at.
    assert logged_in("/en/staff/login/", attempt("/en/staff/login/", "alice", factories.PASSWORD))


def test_failures_on_the_api_and_the_pages_count_towards_one_lockout(alice, settings):
    paths = [TOKEN_URL, "/en/staff/login/", "/admin/login/"]
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(paths[i % len(paths)], "alice", f"guess {i}")
    for path in paths:
        assert attempt(path, "alice", factories.PASSWORD).status_code == 429, path


class TestTheClientsAddress:
    """The lockout counts clients as the API throttles do (API_NUM_PROXIES), never by a header the client wrote."""

    def proxies(self, settings, count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    def test_without_a_proxy_a_forged_x_forwarded_for_does_not_dodge_the_lockout(self, settings):
        self.proxies(settings, 0)
        for i in range(settings.AXES_FAILURE_LIMIT):
            attempt("/en/staff/login/", f"name{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.9.0.{i}")
        response = attempt("/en/staff/login/", "another", "guess", HTTP_X_FORWARDED_FOR="10.9.0.99")
        assert response.status_code == 429
        assert set(SecurityEvent.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}

    def test_behind_one_proxy_it_counts_the_address_the_proxy_saw(self, settings):
        self.proxies(settings, 1)
        proxy = {"REMOTE_ADDR": "10.0.0.1"}
        for i in range(settings.AXES_FAILURE_LIMIT):
            # The attacker writes a new X-Forwarded-For each time; the proxy appends the real address.
            attempt("/en/staff/login/", f"name{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.9.0.{i}, 203.0.113.5", **proxy)
        attacker = attempt("/en/staff/login/", "x", "guess", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5", **proxy)
        assert attacker.status_code == 429
        # Another client behind the same proxy is not locked out by the attacker's address.
        colleague = attempt("/en/staff/login/", "y", "guess", HTTP_X_FORWARDED_FOR="198.51.100.20", **proxy)
        assert colleague.status_code == 200
        lockout = SecurityEvent.objects.get(kind=SecurityEvent.Kind.LOCKED_OUT)
        assert lockout.ip_address == "203.0.113.5"


def test_a_lockout_is_logged_once_with_the_address_and_each_refused_try_after_it(alice, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for i in range(limit + 2):
        attempt("/en/staff/login/", "alice", f"guess {i}", REMOTE_ADDR="198.51.100.3")
    lockout = SecurityEvent.objects.get(kind=SecurityEvent.Kind.LOCKED_OUT)
    assert (lockout.account, lockout.username, lockout.ip_address) == (alice, "alice", "198.51.100.3")
    assert lockout.detail == {"failures": limit, "cool_off_minutes": settings.LOGIN_COOLOFF_MINUTES}
    failures = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOGIN_FAILED).order_by("at", "id")
    assert [event.detail.get("refused") for event in failures] == [None] * (limit - 1) + ["locked out"] * 3


def test_a_password_check_without_a_request_is_refused_rather_than_let_past_the_lockout(client, alice):
    # Every login path hands its request to authenticate(); one that did not would dodge the count.
    with pytest.raises(AxesBackendRequestParameterRequired):
        authenticate(username="alice", password=factories.PASSWORD)
    # The test client's login() works when given one.
    assert client.login(request=HttpRequest(), username="alice", password=factories.PASSWORD)
    assert client.get("/en/staff/").status_code == 200
