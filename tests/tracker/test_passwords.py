"""
Passwords: a change by its holder or by an admin, by every path, revokes the
account's API tokens and ends its other sessions; the reset by e-mail answers a
known and an unknown address alike, is throttled, and works end to end.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tracker import services
from tracker.models import SecurityEvent

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)
NEW_PASSWORD = "a different horse, stapled"
TOKEN_URL = "/api/v1/auth/token/"
Kind = SecurityEvent.Kind


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def token(username: str, password: str = factories.PASSWORD) -> str:
    response = APIClient().post(TOKEN_URL, {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/counts/").status_code == 200 and client.post("/api/v1/sources/", {}).status_code == 400


def session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def logged_in(client: Client) -> bool:
    return client.get("/en/staff/").status_code == 200


class TestAChangeRevokesEveryToken:
    """The same promise by every path that sets a password (the bug: tokens outlived the password)."""

    def test_on_the_staff_password_page(self, alice, bob):
        laptop, phone, bobs = token("alice"), token("alice"), token("bob")
        here, elsewhere = session(alice), session(alice)
        response = here.post(
            "/en/staff/password/",
            {"old_password": factories.PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert response.status_code == 302
        assert not works(laptop) and not works(phone)
        assert works(bobs)
        # The session it was changed in stays; every other one ends (Django's session hash).
        assert logged_in(here)
        assert not logged_in(elsewhere)
        event = SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED, account=alice).latest("id")
        assert event.actor is None
        assert event.detail == {"api_tokens_revoked": 2}
        assert works(token("alice", NEW_PASSWORD))

    def test_a_wrong_old_password_changes_nothing(self, alice):
        key = token("alice")
        before = SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED).count()
        response = session(alice).post(
            "/en/staff/password/",
            {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert response.status_code == 200
        assert works(key)
        assert SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED).count() == before

    def test_by_an_admin_in_the_admin(self, alice, dave):
        key = token("alice")
        alices_session = session(alice)
        response = session(dave).post(
            f"/admin/tracker/user/{alice.pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        )
        assert response.status_code == 302, response.content
        assert not works(key)
        assert not logged_in(alices_session)
        event = SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED, account=alice).latest("id")
        assert event.actor == dave
        assert event.detail == {"api_tokens_revoked": 1}

    def test_by_an_admin_through_the_api(self, alice, dave):
        key = token("alice")
        admin = APIClient()
        admin.force_authenticate(dave)
        response = admin.patch(f"/api/v1/users/{alice.pk}/", {"password": NEW_PASSWORD})
        assert response.status_code == 200, response.content
        assert not works(key)

    def test_through_the_account_service(self, alice, dave):
        key = token("alice")
        services.account_save(account=alice, user=dave, password=NEW_PASSWORD)
        assert not works(key)

    def test_with_manage_py_changepassword(self, alice, monkeypatch):
        key = token("alice")
        monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
        call_command("changepassword", "alice", stdout=__import__("io").StringIO())
        assert not works(key)

    def test_a_save_that_does_not_touch_the_password_revokes_nothing(self, alice, dave):
        key = token("alice")
        alice.first_name = "Alice"
        services.account_save(account=alice, user=dave)
        assert works(key)


def reset_request(email: str, client: Client | None = None, **extra):
    return (client or Client()).post("/en/staff/password-reset/", {"email": email}, **extra)


class TestPasswordReset:
    @pytest.fixture
    def alice(self, alice):
        alice.email = "alice@helping-hands.example"
        alice.save()
        return alice

    def test_a_known_and_an_unknown_address_get_the_same_answer(self, alice):
        known = reset_request("alice@helping-hands.example", REMOTE_ADDR="192.0.2.1")
        unknown = reset_request("nobody@helping-hands.example", REMOTE_ADDR="192.0.2.2")
        assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
        assert known["Location"] == "/en/staff/password-reset/sent/"
        assert Client().get(known["Location"]).content == Client().get(unknown["Location"]).content
        # Only the account's owner gets a link; both requests are in the security log.
        assert [message.to for message in mail.outbox] == [["alice@helping-hands.example"]]
        events = SecurityEvent.objects.filter(kind=Kind.PASSWORD_RESET_REQUESTED).order_by("id")
        assert [(e.account, e.detail["email"]) for e in events] == [
            (alice, "alice@helping-hands.example"),
            (None, "nobody@helping-hands.example"),
        ]

    def test_requests_are_throttled_per_address_the_same_for_known_and_unknown(self, alice, settings):
        limit = settings.PASSWORD_RESET_LIMIT
        statuses = [reset_request(f"someone{i}@example.org", REMOTE_ADDR="192.0.2.7").status_code for i in range(limit)]
        assert statuses == [302] * limit
        for email in ("alice@helping-hands.example", "nobody@example.org"):
            response = reset_request(email, REMOTE_ADDR="192.0.2.7")
            assert response.status_code == 429
            assert "Too many reset requests" in response.content.decode()
        assert mail.outbox == []
        assert reset_request("alice@helping-hands.example", REMOTE_ADDR="192.0.2.8").status_code == 302

    def test_requests_for_one_address_are_throttled_from_anywhere(self, alice, settings, _clock):
        limit = settings.PASSWORD_RESET_LIMIT
        for i in range(limit):
            assert reset_request("alice@helping-hands.example", REMOTE_ADDR=f"198.51.100.{i}").status_code == 302
        assert reset_request("Alice@Helping-Hands.example", REMOTE_ADDR="203.0.113.1").status_code == 429
        assert len(mail.outbox) == limit
        _clock.shift(dt.timedelta(hours=1, seconds=1))
        assert reset_request("alice@helping-hands.example", REMOTE_ADDR="203.0.113.1").status_code == 302

    def test_the_link_sets_a_new_password_revokes_tokens_and_lifts_a_lockout(self, alice, settings):
        key = token("alice")
        for i in range(settings.AXES_FAILURE_LIMIT):
            Client().post("/en/staff/login/", {"username": "alice", "password": f"guess {i}"})
        reset_request("alice@helping-hands.example")
        link = re.search(r"http://testserver(/en/staff/password-reset/\S+/)", mail.outbox[0].body).group(1)
        client = Client()
        form = client.get(link, follow=True)
        assert form.status_code == 200 and "new_password1" in form.content.decode()
        done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert done["Location"] == "/en/staff/password-reset/done/"
        assert not works(key)
        event = SecurityEvent.objects.get(kind=Kind.PASSWORD_RESET_COMPLETED)
        assert (event.account, event.detail) == (alice, {"api_tokens_revoked": 1})
        login = Client().post("/en/staff/login/", {"username": "alice", "password": NEW_PASSWORD})
        assert login.status_code == 302
        # The link works once.
        again = Client().get(link, follow=True)
        assert "does not work" in again.content.decode()

    def test_the_email_is_in_the_readers_language(self, alice):
        Client().post("/uk/staff/password-reset/", {"email": "alice@helping-hands.example"})
        assert "/uk/staff/password-reset/" in mail.outbox[0].body
        assert "Щоб вибрати новий пароль" in mail.outbox[0].body

    def test_a_broker_outage_gives_the_same_answer(self, alice, monkeypatch):
        from tracker import tasks

        def unreachable(**kwargs):
            raise ConnectionError("broker down")

        monkeypatch.setattr(tasks.send_email, "delay", unreachable)
        response = reset_request("alice@helping-hands.example")
        assert (response.status_code, response["Location"]) == (302, "/en/staff/password-reset/sent/")
