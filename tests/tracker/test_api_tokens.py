"""
Logging in to the API: tokens from `POST /api/v1/auth/token/` (stored hashed, expiring
when unused, revocable, the endpoint throttled against password guessing), and a
browser session, which must send its CSRF token to write.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from knox import crypto
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests import factories
from tracker.models import CivilianCount

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)
TOKEN_URL = "/api/v1/auth/token/"
REVOKE_URL = "/api/v1/auth/token/revoke/"
REVOKE_ALL_URL = "/api/v1/auth/token/revoke-all/"
COUNTS_URL = "/api/v1/counts/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def count_payload(db):
    return {
        "site": factories.SiteFactory(name="Azovstal").pk,
        "as_of": "2022-05-06T08:00:00Z",
        "count": 200,
        "qualifier": "approximately",
        "source": factories.SourceFactory(name="Mayor").pk,
    }


def token_for(api, username: str, password: str = factories.PASSWORD) -> str:
    response = api().post(TOKEN_URL, {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def with_token(api, key: str) -> APIClient:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


class TestGettingAToken:
    def test_a_username_and_password_get_a_token_and_its_expiry_in_utc(self, api, alice):
        response = api().post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"token", "expiry"}
        assert len(body["token"]) >= 32
        assert body["expiry"].endswith("Z")
        assert dt.datetime.fromisoformat(body["expiry"]) == NOW + knox_settings.TOKEN_TTL

    @pytest.mark.parametrize(
        "credentials",
        [
            {"username": "alice", "password": "not her password"},
            {"username": "alicia", "password": factories.PASSWORD},
            {"username": "ALICE ", "password": factories.PASSWORD + " "},
        ],
    )
    def test_wrong_credentials_are_a_400_and_give_no_token(self, api, alice, credentials):
        response = api().post(TOKEN_URL, credentials)
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["These credentials do not match an active account."]}
        assert not AuthToken.objects.exists()

    def test_a_deactivated_account_gets_no_token(self, api, alice):
        alice.is_active = False
        alice.save()
        assert api().post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD}).status_code == 400
        assert not AuthToken.objects.exists()

    @pytest.mark.parametrize(
        ("credentials", "fields"),
        [
            ({}, {"username", "password"}),
            ({"username": "alice"}, {"password"}),
            ({"username": "alice", "password": 12345}, {"password"}),
        ],
    )
    def test_missing_or_mistyped_credentials_are_a_400(self, api, alice, credentials, fields):
        response = api().post(TOKEN_URL, credentials)
        assert response.status_code == 400
        assert set(response.json()) == fields

    def test_the_token_is_stored_hashed_never_as_given(self, api, alice):
        key = token_for(api, "alice")
        stored = AuthToken.objects.get()
        assert stored.user == alice
        assert stored.digest == crypto.hash_token(key)
        assert not any(key in str(value) for value in AuthToken.objects.values().get().values())


class TestUsingAToken:
    def test_a_token_lets_its_holder_write_as_themselves(self, api, alice, count_payload):
        client = with_token(api, token_for(api, "alice"))
        response = client.post(COUNTS_URL, count_payload)
        assert response.status_code == 201
        count = CivilianCount.objects.get()
        assert (count.created_by, count.organisation) == (alice, alice.organisation)
        assert count.history.get().history_user == alice

    def test_without_credentials_a_write_is_a_401_that_asks_for_a_token(self, api, count_payload):
        response = api().post(COUNTS_URL, count_payload)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"

    @pytest.mark.parametrize("header", ["Token 0123456789abcdef", "Token", "Bearer abc", "Token a b"])
    def test_a_bad_token_is_a_401(self, api, alice, count_payload, header):
        token_for(api, "alice")
        client = api()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.post(COUNTS_URL, count_payload)
        assert response.status_code == 401
        assert not CivilianCount.objects.exists()

    def test_a_revoked_token_is_a_401_and_the_holders_other_tokens_still_work(self, api, alice, count_payload):
        laptop, phone = token_for(api, "alice"), token_for(api, "alice")
        assert with_token(api, laptop).post(REVOKE_URL).status_code == 204
        assert with_token(api, laptop).post(COUNTS_URL, count_payload).status_code == 401
        assert with_token(api, phone).post(COUNTS_URL, count_payload).status_code == 201
        assert AuthToken.objects.count() == 1

    def test_revoke_all_ends_every_token_of_the_account_and_no_one_elses(self, api, alice, bob, count_payload):
        laptop, phone, bobs = token_for(api, "alice"), token_for(api, "alice"), token_for(api, "bob")
        assert with_token(api, phone).post(REVOKE_ALL_URL).status_code == 204
        assert with_token(api, laptop).post(COUNTS_URL, count_payload).status_code == 401
        assert with_token(api, phone).post(COUNTS_URL, count_payload).status_code == 401
        assert with_token(api, bobs).post(COUNTS_URL, count_payload).status_code == 201

    @pytest.mark.parametrize("url", [REVOKE_URL, REVOKE_ALL_URL])
    def test_revoking_needs_a_token(self, api, alice, url):
        token_for(api, "alice")
        assert api().post(url).status_code == 401
        assert AuthToken.objects.count() == 1

    def test_a_token_unused_for_longer_than_its_lifetime_is_a_401(self, api, alice, count_payload, _clock):
        key = token_for(api, "alice")
        _clock.shift(knox_settings.TOKEN_TTL + dt.timedelta(seconds=1))
        assert with_token(api, key).post(COUNTS_URL, count_payload).status_code == 401
        assert not CivilianCount.objects.exists()

    def test_a_token_in_use_stays_valid_beyond_its_first_lifetime(self, api, alice, count_payload, _clock):
        key = token_for(api, "alice")
        almost = knox_settings.TOKEN_TTL - dt.timedelta(hours=1)
        _clock.shift(almost)
        assert with_token(api, key).get(COUNTS_URL).status_code == 200
        _clock.shift(almost)
        assert with_token(api, key).post(COUNTS_URL, count_payload).status_code == 201


def test_the_token_endpoint_is_throttled_at_the_configured_rate(api, alice, settings):
    # The throttle alone: the lockout after repeated failures is tested in test_logins.py.
    settings.AXES_FAILURE_LIMIT = 1000
    allowed, _period = ScopedRateThrottle().parse_rate(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"])
    client = api()
    guesses = [{"username": "alice", "password": f"guess {i}"} for i in range(allowed + 1)]
    assert [client.post(TOKEN_URL, guess).status_code for guess in guesses] == [400] * allowed + [429]


class TestThrottling:
    @pytest.fixture(autouse=True)
    def _three_a_minute(self, monkeypatch):
        # The rates are read once, when the throttle class is defined: patch the class.
        monkeypatch.setattr(
            ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "token": "3/minute"}
        )

    def test_password_guessing_is_cut_off_with_a_429_that_says_when_to_retry(self, api, alice, _clock):
        client = api()
        for _ in range(3):
            assert client.post(TOKEN_URL, {"username": "alice", "password": "guess"}).status_code == 400
        response = client.post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD})
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= 60
        assert not AuthToken.objects.exists()
        _clock.shift(dt.timedelta(seconds=61))
        assert client.post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD}).status_code == 200

    def test_a_forged_x_forwarded_for_does_not_dodge_the_throttle(self, api, alice):
        for i in range(3):
            api().post(TOKEN_URL, {"username": "alice", "password": "guess"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        response = api().post(TOKEN_URL, {"username": "alice", "password": "guess"}, HTTP_X_FORWARDED_FOR="10.0.0.9")
        assert response.status_code == 429

    def test_each_client_address_has_its_own_allowance(self, api, alice):
        for _ in range(3):
            api().post(TOKEN_URL, {"username": "alice", "password": "guess"}, REMOTE_ADDR="192.0.2.1")
        response = api().post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD}, REMOTE_ADDR="192.0.2.2")
        assert response.status_code == 200


class TestBrowserSession:
    @pytest.fixture
    def browser(self, api, alice):
        """Alice's browser, logged in to the staff pages; the API checks CSRF as the pages do."""
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(alice)
        return client

    def csrf_token(self, browser) -> str:
        with translation.override("en"):
            browser.get(reverse("tracker:my_figures"))
        return browser.cookies[settings.CSRF_COOKIE_NAME].value

    def test_a_session_reads_without_a_csrf_token(self, browser):
        assert browser.get(COUNTS_URL).status_code == 200

    def test_a_session_without_a_csrf_token_may_not_write(self, browser, count_payload):
        response = browser.post(COUNTS_URL, count_payload)
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        assert not CivilianCount.objects.exists()

    @pytest.mark.parametrize("method", ["patch", "delete"])
    def test_a_session_without_a_csrf_token_may_not_change_or_delete(self, browser, alice, method):
        count = factories.CivilianCountFactory(organisation=alice.organisation, created_by=alice, count=200)
        response = getattr(browser, method)(f"{COUNTS_URL}{count.pk}/", {"count": 1})
        assert response.status_code == 403
        count.refresh_from_db()
        assert count.count == 200

    def test_a_session_with_its_csrf_token_writes(self, browser, alice, count_payload):
        token = self.csrf_token(browser)
        response = browser.post(COUNTS_URL, count_payload, HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 201
        assert CivilianCount.objects.get().created_by == alice


def test_asking_for_a_token_writes_no_audit_row_for_the_account(api, alice):
    """A login stamps `last_login`, which the history leaves out: no empty history row per token."""
    rows = alice.history.count()
    response = api().post(TOKEN_URL, {"username": "alice", "password": factories.PASSWORD})
    assert response.status_code == 200, response.content
    assert alice.history.count() == rows
