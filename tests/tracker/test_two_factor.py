"""
Two-factor authentication (TOTP, django-otp), with real codes computed from the
secret as an authenticator app would, on a frozen clock: enrolment, the code at
login on the staff pages and the admin, backup codes, the gate that keeps an
account that owes its code out of everything else, tokens for the API, and an
admin's reset. Required (STAFF_2FA_REQUIRED) of every account that can see exact
positions; anyone else may turn it on.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests import factories
from tests.logins import device_code, secret_code, with_app
from tracker import accounts
from tracker.models import Role, SecurityEvent

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=30)
TOKEN_URL = "/api/v1/auth/token/"
Kind = SecurityEvent.Kind


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def required(settings):
    settings.STAFF_2FA_REQUIRED = True


def password_login(username: str, path: str = "/en/staff/login/", **data) -> tuple[Client, object]:
    client = Client()
    response = client.post(path, {"username": username, "password": factories.PASSWORD, **data})
    return client, response


def enrol_through_the_page(client: Client, when: dt.datetime) -> list[str]:
    """Read the secret off the enrolment page, type the app's code, and return the backup codes shown."""
    page = client.get("/en/staff/two-factor/")
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page.content.decode()).group(1)
    response = client.post(
        "/en/staff/two-factor/", {"action": "enrol", "code": secret_code(secret, when), "next": "/en/staff/"}
    )
    assert response.status_code == 200, response.content
    return re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())


class TestWhoMustUseIt:
    def test_coordinators_admins_and_holders_of_the_exact_position_permission_must(self, required, alice, carol, dave):
        from tracker import permissions

        assert permissions.must_use_second_factor(carol)
        assert permissions.must_use_second_factor(dave)
        assert not permissions.must_use_second_factor(alice)
        alice.user_permissions.add(Permission.objects.get(codename="view_exact_location"))
        alice = type(alice).objects.get(pk=alice.pk)
        assert permissions.must_use_second_factor(alice)

    def test_nobody_must_when_it_is_not_required(self, carol, dave):
        from tracker import permissions

        assert not permissions.must_use_second_factor(carol)
        assert not permissions.must_use_second_factor(dave)

    def test_the_setting_is_on_by_default_in_production_and_off_in_the_demo(self):
        import subprocess
        import sys

        code = "import django; django.setup(); from django.conf import settings; print(settings.STAFF_2FA_REQUIRED)"
        common = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tracker.settings"}
        production = {**common, "DEBUG": "0", "SECRET_KEY": "x" * 20 + "abcdefghij" * 4, "ALLOWED_HOSTS": "a.org"}
        for env, expected in ((common, "False"), (production, "True")):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            assert out.stdout.strip() == expected


class TestEnrolment:
    def test_a_coordinator_without_an_app_is_sent_to_enrol_before_anything_else(self, required, carol):
        client, response = password_login("carol")
        assert response.status_code == 302
        assert response["Location"].startswith("/en/staff/two-factor/?next=")
        for path in ("/en/staff/", "/en/", "/en/map/", "/admin/", "/en/staff/password/"):
            blocked = client.get(path)
            assert blocked.status_code == 302, path
            assert blocked["Location"].startswith("/en/staff/two-factor/"), path
        assert client.get("/api/v1/users/").status_code == 403
        assert client.get("/en/staff/two-factor/").status_code == 200

    def test_enrolling_with_a_real_code_turns_it_on_and_gives_ten_backup_codes(self, required, carol, _clock):
        client, _response = password_login("carol")
        page = client.get("/en/staff/two-factor/")
        html = page.content.decode()
        # The QR code is an image (a data: URI): no inline script or style for the CSP to refuse.
        assert re.search(r'<img class="qr-code" src="data:image/svg\+xml', html)
        assert "<script" not in html and "style=" not in html
        codes = enrol_through_the_page(client, NOW)
        assert len(codes) == len(set(codes)) == accounts.BACKUP_CODE_COUNT
        device = TOTPDevice.objects.get(user=carol)
        assert device.confirmed
        assert client.get("/en/staff/").status_code == 200
        assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_ENROLLED, account=carol).count() == 1

    def test_the_secret_stays_the_same_from_one_visit_to_the_next(self, required, carol):
        client, _response = password_login("carol")
        first = client.get("/en/staff/two-factor/").content
        second = client.get("/en/staff/two-factor/").content
        secret = re.compile(rb'<code class="secret">([A-Z2-7 ]+)</code>')
        assert secret.search(first).group(1) == secret.search(second).group(1)
        assert TOTPDevice.objects.filter(user=carol).count() == 1

    def test_a_wrong_code_does_not_turn_it_on(self, required, carol):
        client, _response = password_login("carol")
        client.get("/en/staff/two-factor/")
        response = client.post("/en/staff/two-factor/", {"action": "enrol", "code": "000000"})
        assert response.status_code == 400
        assert "does not match" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=carol, confirmed=True).exists()
        assert client.get("/en/staff/").status_code == 302

    def test_a_reporter_may_turn_it_on_and_then_needs_it(self, alice, _clock):
        client, response = password_login("alice")
        assert response["Location"] == "/en/staff/"  # not required of her
        enrol_through_the_page(client, NOW)
        _clock.shift(STEP)
        _again, response = password_login("alice")
        assert response["Location"].startswith("/en/staff/login/code/")


class TestTheCodeAtLogin:
    @pytest.fixture
    def carols_app(self, required, carol):
        return with_app(carol)

    def test_the_staff_login_asks_for_the_code_and_lets_in_with_the_right_one(self, carols_app):
        client, response = password_login("carol")
        assert response["Location"] == "/en/staff/login/code/?next=%2Fen%2Fstaff%2F"
        assert client.get("/en/staff/").status_code == 302
        response = client.post(response["Location"], {"code": device_code(carols_app, NOW), "next": "/en/staff/"})
        assert response.status_code == 302
        assert response["Location"] == "/en/staff/"
        assert client.get("/en/staff/").status_code == 200
        assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_PASSED, account=carols_app.user).exists()

    def test_the_admin_login_asks_for_the_code_too(self, carols_app):
        client, response = password_login("carol", path="/admin/login/", next="/admin/")
        assert response["Location"] == "/admin/"
        gate = client.get("/admin/")
        assert gate.status_code == 302
        assert gate["Location"] == "/en/staff/login/code/?next=%2Fadmin%2F"
        client.post("/en/staff/login/code/", {"code": device_code(carols_app, NOW), "next": "/admin/"})
        assert client.get("/admin/").status_code == 200

    def test_a_wrong_code_is_refused_and_logged(self, carols_app):
        client, _response = password_login("carol")
        response = client.post("/en/staff/login/code/", {"code": "123456"})
        assert response.status_code == 400
        assert "not right" in response.content.decode()
        assert client.get("/en/staff/").status_code == 302
        assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_FAILED, account=carols_app.user).exists()

    def test_a_code_works_once(self, carols_app):
        code = device_code(carols_app, NOW)
        first, _response = password_login("carol")
        assert first.post("/en/staff/login/code/", {"code": code})["Location"] == "/en/staff/"
        second, _response = password_login("carol")
        assert second.post("/en/staff/login/code/", {"code": code}).status_code == 400

    def test_guessing_codes_locks_the_account_out_even_with_the_password_known(self, carols_app, settings, _clock):
        client, _response = password_login("carol")
        statuses = []
        for i in range(settings.AXES_FAILURE_LIMIT):
            _clock.shift(dt.timedelta(seconds=70))  # past django-otp's own growing delay
            statuses.append(client.post("/en/staff/login/code/", {"code": f"{i:06d}"}).status_code)
        assert statuses == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
        # Logged out, and the password alone does not even start a login now.
        assert client.get("/en/staff/").status_code == 302
        assert password_login("carol")[1].status_code == 429

    def test_a_backup_code_works_once_instead_of_the_app(self, required, carol, _clock):
        client, _response = password_login("carol")
        codes = enrol_through_the_page(client, NOW)
        _clock.shift(STEP)
        for expected in (302, 400):
            client, _response = password_login("carol")
            assert client.post("/en/staff/login/code/", {"code": codes[0].upper()}).status_code == expected
        assert StaticToken.objects.filter(device__user=carol).count() == accounts.BACKUP_CODE_COUNT - 1

    def test_an_unsafe_next_is_not_followed(self, carols_app):
        client, _response = password_login("carol")
        response = client.post(
            "/en/staff/login/code/", {"code": device_code(carols_app, NOW), "next": "https://evil.example/"}
        )
        assert response["Location"] == "/en/staff/"

    def test_without_the_requirement_a_coordinator_with_no_app_logs_in_with_the_password(self, carol):
        client, response = password_login("carol")
        assert response["Location"] == "/en/staff/"
        assert client.get("/en/staff/").status_code == 200


class TestApiTokens:
    def post(self, **data):
        return APIClient().post(TOKEN_URL, data)

    def test_an_account_that_needs_no_second_factor_keeps_the_contract(self, required, alice):
        response = self.post(username="alice", password=factories.PASSWORD)
        assert response.status_code == 200
        assert set(response.json()) == {"token", "expiry"}

    def test_a_required_account_without_an_app_gets_no_token(self, required, carol):
        response = self.post(username="carol", password=factories.PASSWORD)
        assert response.status_code == 400
        assert set(response.json()) == {"otp"}
        assert not AuthToken.objects.exists()

    def test_an_account_with_an_app_needs_its_code(self, required, carol, _clock):
        device = with_app(carol)
        assert self.post(username="carol", password=factories.PASSWORD).status_code == 400
        wrong = self.post(username="carol", password=factories.PASSWORD, otp="000000")
        assert wrong.status_code == 400
        assert set(wrong.json()) == {"otp"}
        assert not AuthToken.objects.exists()
        _clock.shift(dt.timedelta(seconds=2))  # django-otp waits a second after a wrong code
        right = self.post(username="carol", password=factories.PASSWORD, otp=device_code(device, NOW))
        assert right.status_code == 200
        assert AuthToken.objects.get().user == carol

    def test_the_code_does_not_help_a_wrong_password(self, required, carol):
        device = with_app(carol)
        response = self.post(username="carol", password="guess", otp=device_code(device, NOW))
        assert response.status_code == 400
        assert set(response.json()) == {"non_field_errors"}

    def test_wrong_codes_count_towards_the_lockout(self, required, carol, settings, _clock):
        device = with_app(carol)
        for i in range(settings.AXES_FAILURE_LIMIT):
            _clock.shift(dt.timedelta(seconds=70))
            response = self.post(username="carol", password=factories.PASSWORD, otp=f"{i:06d}")
        assert response.status_code == 429
        _clock.shift(STEP)
        response = self.post(username="carol", password=factories.PASSWORD, otp=device_code(device, NOW + STEP))
        assert response.status_code == 429

    def test_a_session_that_owes_its_code_cannot_use_the_api(self, required, carol):
        with_app(carol)
        client, _response = password_login("carol")
        assert client.get("/api/v1/users/").status_code == 403
        assert client.post("/api/v1/sources/", {"name": "x", "kind": "media"}).status_code == 403

    def test_promotion_to_a_role_that_needs_the_second_factor_ends_tokens_granted_without_it(self, required, alice):
        token = self.post(username="alice", password=factories.PASSWORD).json()["token"]
        alice.role = Role.COORDINATOR
        alice.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get("/api/v1/counts/").status_code == 401


class TestManagingIt:
    def test_new_backup_codes_replace_the_old_ones(self, alice, _clock):
        client, _response = password_login("alice")
        old = enrol_through_the_page(client, NOW)
        response = client.post("/en/staff/two-factor/", {"action": "backup_codes"})
        new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
        assert len(new) == accounts.BACKUP_CODE_COUNT and not set(new) & set(old)
        assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)
        assert SecurityEvent.objects.filter(kind=Kind.BACKUP_CODES_GENERATED, account__username="alice").exists()

    def test_a_reporter_turns_it_off_with_her_password(self, alice):
        client, _response = password_login("alice")
        enrol_through_the_page(client, NOW)
        assert client.post("/en/staff/two-factor/", {"action": "remove", "password": "nope"}).status_code == 400
        assert TOTPDevice.objects.filter(user__username="alice").exists()
        response = client.post("/en/staff/two-factor/", {"action": "remove", "password": factories.PASSWORD})
        assert response.status_code == 302
        assert not TOTPDevice.objects.filter(user__username="alice").exists()
        assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_REMOVED, account__username="alice").exists()

    def test_a_coordinator_cannot_turn_off_what_is_required_of_her(self, required, carol):
        client, _response = password_login("carol")
        enrol_through_the_page(client, NOW)
        page = client.get("/en/staff/two-factor/").content.decode()
        assert 'value="remove"' not in page
        response = client.post("/en/staff/two-factor/", {"action": "remove", "password": factories.PASSWORD})
        assert response.status_code == 400
        assert TOTPDevice.objects.filter(user=carol, confirmed=True).exists()

    def test_an_admin_resets_a_lost_phone_and_the_person_enrols_again(self, required, carol, dave, _clock):
        with_app(carol)
        with_app(dave)
        admin = Client()
        admin.force_login(dave)
        session = admin.session
        session["otp_device_id"] = TOTPDevice.objects.get(user=dave).persistent_id
        session.save()
        response = admin.post(
            "/admin/tracker/user/", {"action": "reset_second_factor", "_selected_action": [carol.pk]}, follow=True
        )
        assert response.status_code == 200
        assert not TOTPDevice.objects.filter(user=carol).exists()
        event = SecurityEvent.objects.get(kind=Kind.SECOND_FACTOR_RESET)
        assert (event.account, event.actor) == (carol, dave)
        _client, login = password_login("carol")
        assert login["Location"].startswith("/en/staff/two-factor/")

    def test_only_an_admin_may_reset_someone_elses(self, alice, carol):
        with_app(alice)
        from django.core.exceptions import PermissionDenied

        with pytest.raises(PermissionDenied):
            accounts.second_factor_remove(account=alice, user=carol)
        assert TOTPDevice.objects.filter(user=alice).exists()

    def test_the_device_admin_pages_are_not_there(self, dave, client):
        client.force_login(dave)
        assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
        assert client.get("/admin/otp_static/staticdevice/").status_code == 404

    def test_the_user_list_shows_who_has_it_in_one_query(self, dave, alice, bob, client, django_assert_max_num_queries):
        with_app(alice)
        client.force_login(dave)
        response = client.get("/admin/tracker/user/")
        assert response.status_code == 200
        rows = {user.username: user.has_second_factor for user in response.context["cl"].result_list}
        assert rows == {"alice": True, "bob": False, "dave": False}
