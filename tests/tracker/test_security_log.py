"""
The security event log: each kind of event, written by whichever path caused it,
with who, when, from which address and through what; read (filtered, exported) by
admins only and changed by nobody; a failed write of it never fails a login, and a
rolled-back change leaves no event.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError, transaction
from django.test import Client
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from tests import factories
from tracker import accounts
from tracker.models import Role, SecurityEvent

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)
Kind = SecurityEvent.Kind
KEY = CONSTANTS.TOKEN_KEY_LENGTH  # the first characters of a token, which knox keeps in clear to find it
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def events(kind: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind).order_by("id"))


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class TestLogins:
    def test_a_login_on_the_staff_page_with_who_when_where_and_how(self, alice):
        Client().post(
            "/en/staff/login/",
            {"username": "alice", "password": factories.PASSWORD},
            REMOTE_ADDR="198.51.100.4",
            HTTP_USER_AGENT="Phone browser 1.0",
        )
        (event,) = events(Kind.LOGIN_SUCCEEDED)
        assert (event.account, event.username, event.actor) == (alice, "alice", None)
        assert (event.ip_address, event.user_agent, event.path) == (
            "198.51.100.4",
            "Phone browser 1.0",
            "/en/staff/login/",
        )
        assert event.at == NOW

    def test_a_login_on_the_admin(self, dave):
        Client().post("/admin/login/", {"username": "dave", "password": factories.PASSWORD})
        assert [e.path for e in events(Kind.LOGIN_SUCCEEDED)] == ["/admin/login/"]

    def test_a_failure_with_an_unknown_name_keeps_the_name_typed(self, db):
        Client().post("/en/staff/login/", {"username": "mallory", "password": "guess"})
        (event,) = events(Kind.LOGIN_FAILED)
        assert (event.account, event.username, event.ip_address) == (None, "mallory", "127.0.0.1")

    def test_a_failure_with_a_known_name_names_the_account(self, alice):
        Client().post("/en/staff/login/", {"username": "alice", "password": "guess"})
        assert [e.account for e in events(Kind.LOGIN_FAILED)] == [alice]

    def test_a_logout(self, alice):
        client = admin_client(alice)
        client.post("/en/staff/logout/")
        assert [e.account for e in events(Kind.LOGGED_OUT)] == [alice]

    def test_a_failed_write_of_the_log_does_not_fail_the_login(self, alice, monkeypatch, caplog):
        def broken(self, *args, **kwargs):
            raise DatabaseError("disk full")

        monkeypatch.setattr(SecurityEvent, "save", broken)
        client = Client()
        response = client.post("/en/staff/login/", {"username": "alice", "password": factories.PASSWORD})
        assert response.status_code == 302
        assert client.get("/en/staff/").status_code == 200
        assert "could not be written" in caplog.text


class TestTokens:
    def grant(self, username: str) -> str:
        return APIClient().post(TOKEN_URL, {"username": username, "password": factories.PASSWORD}).json()["token"]

    def with_token(self, key: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    def test_a_grant_is_logged_and_not_as_a_web_login(self, alice):
        key = self.grant("alice")
        (event,) = events(Kind.TOKEN_GRANTED)
        assert (event.account, event.path, event.detail["token"]) == (alice, TOKEN_URL, key[:KEY])
        assert events(Kind.LOGIN_SUCCEEDED) == []

    def test_a_revocation_and_a_revoke_all(self, alice):
        one, two, three = self.grant("alice"), self.grant("alice"), self.grant("alice")
        self.with_token(one).post("/api/v1/auth/token/revoke/")
        assert [e.detail["token"] for e in events(Kind.TOKEN_REVOKED)] == [one[:KEY]]
        self.with_token(two).post("/api/v1/auth/token/revoke-all/")
        assert sorted(e.detail["token"] for e in events(Kind.TOKEN_REVOKED)) == sorted(
            k[:KEY] for k in (one, two, three)
        )
        assert events(Kind.LOGGED_OUT) == []

    def test_a_deletion_by_an_admin_names_the_admin(self, alice, dave):
        self.grant("alice")
        token = AuthToken.objects.get()
        response = admin_client(dave).post(f"/admin/knox/authtoken/{token.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
        (event,) = events(Kind.TOKEN_REVOKED)
        assert (event.account, event.actor) == (alice, dave)

    def test_an_expired_token_cleaned_away_is_not_a_revocation(self, alice, _clock, settings):
        key = self.grant("alice")
        _clock.shift(settings.REST_KNOX["TOKEN_TTL"] + dt.timedelta(seconds=1))
        assert self.with_token(key).get("/api/v1/counts/").status_code == 401
        assert not AuthToken.objects.exists()
        assert events(Kind.TOKEN_REVOKED) == []


class TestAccounts:
    def user_form(self, user, **changes):
        data = {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "organisation": user.organisation_id or "",
            "role": user.role,
            "is_active": "on" if user.is_active else "",
            "user_permissions": [],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2022-05-01",
            "date_joined_1": "10:00",
        }
        data.update(changes)
        return {k: v for k, v in data.items() if v != "" or k in ("email", "first_name", "last_name")}

    def test_an_account_made_in_the_admin(self, dave):
        response = admin_client(dave).post(
            "/admin/tracker/user/add/",
            {
                "username": "erin",
                "role": Role.REPORTER,
                "password1": "a long enough pass phrase",
                "password2": "a long enough pass phrase",
                "usable_password": "true",
            },
        )
        assert response.status_code == 302, response.content
        event = SecurityEvent.objects.get(kind=Kind.ACCOUNT_CREATED, username="erin")
        assert (event.username, event.actor, event.detail) == ("erin", dave, {"role": "reporter", "is_active": True})

    def test_a_role_change_in_the_admin(self, alice, dave):
        response = admin_client(dave).post(
            f"/admin/tracker/user/{alice.pk}/change/", self.user_form(alice, role=Role.COORDINATOR)
        )
        assert response.status_code == 302, response.content
        (event,) = events(Kind.ROLE_CHANGED)
        assert (event.account, event.actor, event.detail) == (alice, dave, {"role": ["reporter", "coordinator"]})

    def test_a_deactivation_through_the_api(self, alice, dave):
        client = APIClient()
        client.force_authenticate(dave)
        assert client.patch(f"/api/v1/users/{alice.pk}/", {"is_active": False}).status_code == 200
        (event,) = events(Kind.ROLE_CHANGED)
        assert (event.account, event.actor, event.detail) == (alice, dave, {"is_active": [True, False]})

    def test_a_save_that_changes_no_access_is_not_an_event(self, alice):
        alice.first_name = "Alice"
        alice.save()
        assert events(Kind.ROLE_CHANGED) == []

    def test_a_permission_given_in_the_admin(self, alice, dave):
        exact = Permission.objects.get(codename="view_exact_location")
        response = admin_client(dave).post(
            f"/admin/tracker/user/{alice.pk}/change/", self.user_form(alice, user_permissions=[exact.pk])
        )
        assert response.status_code == 302, response.content
        (event,) = events(Kind.PERMISSIONS_CHANGED)
        assert (event.account, event.actor) == (alice, dave)
        assert event.detail == {"permissions": {"added": ["tracker.view_exact_location"]}}

    def test_permissions_taken_away_and_cleared(self, alice):
        exact = Permission.objects.get(codename="view_exact_location")
        alice.user_permissions.add(exact)
        alice.user_permissions.remove(exact)
        alice.user_permissions.add(exact)
        alice.user_permissions.clear()
        changes = [e.detail["permissions"] for e in events(Kind.PERMISSIONS_CHANGED)]
        assert changes == [{"added": ["tracker.view_exact_location"]}, {"removed": ["tracker.view_exact_location"]}] * 2

    def test_group_membership_and_a_groups_permissions(self, alice):
        group = Group.objects.create(name="Shelter planners")
        group.user_set.add(alice)
        group.permissions.add(Permission.objects.get(codename="view_exact_location"))
        kinds = [(e.account, e.detail) for e in events(Kind.PERMISSIONS_CHANGED)]
        assert kinds == [
            (alice, {"groups": {"added": ["Shelter planners"]}}),
            (None, {"group": "Shelter planners", "permissions": {"added": ["tracker.view_exact_location"]}}),
        ]

    def test_a_rolled_back_change_leaves_no_event(self, alice):
        with pytest.raises(RuntimeError), transaction.atomic():
            alice.role = Role.ADMIN
            alice.save()
            raise RuntimeError("the rest of the change failed")
        assert events(Kind.ROLE_CHANGED) == []

    def test_second_factor_events_are_covered_in_test_two_factor(self):
        kinds = {
            Kind.SECOND_FACTOR_ENROLLED,
            Kind.SECOND_FACTOR_PASSED,
            Kind.SECOND_FACTOR_FAILED,
            Kind.SECOND_FACTOR_REMOVED,
            Kind.SECOND_FACTOR_RESET,
            Kind.BACKUP_CODES_GENERATED,
        }
        from pathlib import Path

        text = (Path(__file__).parent / "test_two_factor.py").read_text()
        assert all(f"Kind.{kind.name}" in text for kind in kinds)


class TestTheAdminsView:
    @pytest.fixture
    def logged(self, alice):
        return [
            accounts.security_event_record(kind=Kind.LOGIN_FAILED, username="=cmd|' /C calc'!A0").pk,
            accounts.security_event_record(kind=Kind.LOGIN_SUCCEEDED, account=alice).pk,
        ]

    @pytest.mark.parametrize("persona", ["alice", "carol"])
    def test_only_admins_see_it(self, request, persona, logged):
        client = admin_client(request.getfixturevalue(persona))
        assert client.get("/admin/tracker/securityevent/").status_code == 403
        assert "securityevent" not in client.get("/admin/").content.decode()

    def test_an_admin_reads_and_filters_it_but_cannot_change_it(self, dave, logged):
        client = admin_client(dave)
        page = client.get("/admin/tracker/securityevent/?kind__exact=login_failed")
        assert page.status_code == 200
        assert [e.kind for e in page.context["cl"].result_list] == [Kind.LOGIN_FAILED]
        event = SecurityEvent.objects.get(pk=logged[0])
        assert client.get(f"/admin/tracker/securityevent/{event.pk}/change/").status_code == 200
        assert client.post(f"/admin/tracker/securityevent/{event.pk}/change/", {"kind": "x"}).status_code == 403
        assert client.get("/admin/tracker/securityevent/add/").status_code == 403
        assert client.post(f"/admin/tracker/securityevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
        assert SecurityEvent.objects.filter(pk=event.pk, kind=event.kind).exists()

    def test_an_admin_exports_it_as_csv_safe_for_spreadsheets(self, dave, logged):
        response = admin_client(dave).post(
            "/admin/tracker/securityevent/", {"action": "export_csv", "_selected_action": logged}
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0][:3] == ["at", "kind", "username"]
        assert [row[1] for row in rows[1:]] == [Kind.LOGIN_FAILED, Kind.LOGIN_SUCCEEDED]
        assert rows[1][2] == "'=cmd|' /C calc'!A0"
