"""
Services for logins and accounts: the client's address, the security event log, the
second factor (TOTP with backup codes, django-otp), API token revocation and the
password reset throttle. Who must use a second factor is decided in
tracker/permissions.py; the views, the API, the admin and the signal receivers
(tracker/signals.py) call these.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import ipaddress
import logging
from base64 import b32encode
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.throttling import BaseThrottle

from tracker import permissions
from tracker.models import SecurityEvent

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django_otp.models import Device

    from tracker.models import User

    class MemberRequest(HttpRequest):
        """A request past `login_required` (for the type checker): its user is a signed-in account."""

        user: User  # narrower than HttpRequest.user, which may be anonymous


logger = logging.getLogger("tracker.security")

# How many backup codes a person gets at a time; each works once.
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"

# The request being answered, so that events recorded by signal receivers (a role
# changed in the admin, a token deleted) know the address and the actor.
_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("request", default=None)


def client_address(request: Any) -> str | None:
    """
    The client's address as the API throttles count it: REMOTE_ADDR, or with
    API_NUM_PROXIES proxies in front, the address the last of them saw in
    X-Forwarded-For (never what the client itself wrote there). None when it is not
    an IP address.
    """
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address((ident or "").strip()))
    except ValueError:
        return None


def current_request() -> HttpRequest | None:
    return _current_request.get()


def set_current_request(request: HttpRequest | None) -> contextvars.Token[HttpRequest | None]:
    return _current_request.set(request)


def reset_current_request(token: contextvars.Token[HttpRequest | None]) -> None:
    _current_request.reset(token)


def _request_user(request: Any) -> User | None:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def security_event_record(
    *,
    kind: str,
    account: User | None = None,
    username: str = "",
    request: Any = None,
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
) -> SecurityEvent | None:
    """
    Write one event to the security event log (and one line to the `tracker.security`
    logger). `request` defaults to the one being answered; `actor` to its user when
    that is someone other than `account`.

    It is written in the caller's transaction, so a change that is rolled back leaves
    no event; in a savepoint, so that if the write itself fails (the error is
    logged) the login or change it describes still goes through.
    """
    request = request if request is not None else current_request()
    if actor is None and request is not None:
        actor = _request_user(request)
    if actor is not None and account is not None and actor.pk == account.pk:
        actor = None
    event = SecurityEvent(
        kind=kind,
        account=account,
        username=(username or (account.get_username() if account is not None else ""))[:150],
        actor=actor,
        ip_address=client_address(request) if request is not None else None,
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        path=(request.path if request is not None else "")[:300],
        detail=detail or {},
    )
    logger.info(
        "event=%s user=%s actor=%s address=%s path=%s detail=%s",
        kind,
        event.username or "-",
        actor.get_username() if actor is not None else "-",
        event.ip_address or "-",
        event.path or "-",
        event.detail,
    )
    try:
        with transaction.atomic():
            event.save()
    except DatabaseError:
        logger.exception("The security event %s of %s could not be written.", kind, event.username)
        return None
    return event


# --- The second factor -------------------------------------------------------------


def totp_device(user: User) -> TOTPDevice | None:
    """The account's confirmed authenticator app, if it has one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user: Any) -> bool:
    return user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_due(user: Any) -> bool:
    """
    Whether logging in as `user` takes a code: always when the account has an
    authenticator app, and for every account that must have one
    (permissions.must_use_second_factor), which must enrol first.
    """
    return permissions.must_use_second_factor(user) or has_second_factor(user)


def totp_secret(device: TOTPDevice) -> str:
    """The secret as an authenticator app asks for it when it is typed in (base32)."""
    return b32encode(device.bin_key).decode()


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """
    The not-yet-confirmed device whose secret the enrolment page shows (the same one
    on every visit, so that the QR code a person scanned stays right).
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


@transaction.atomic
def totp_enrolment_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """
    Turn the second factor on once the person has typed a code their app made from
    the new secret. Returns their new backup codes, or None when the code is wrong.
    """
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(_digits(code)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    security_event_record(kind=SecurityEvent.Kind.SECOND_FACTOR_ENROLLED, account=user)
    return backup_codes_generate(user=user, record=False)


@transaction.atomic
def backup_codes_generate(*, user: User, record: bool = True) -> list[str]:
    """A fresh set of single-use backup codes; the old ones stop working."""
    device, _created = StaticDevice.objects.get_or_create(user=user, name="Backup codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    if record:
        security_event_record(kind=SecurityEvent.Kind.BACKUP_CODES_GENERATED, account=user)
    return codes


def backup_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _digits(code: str) -> str:
    return "".join(code.split())


def second_factor_verify(*, user: User, code: str) -> Device | None:
    """
    The device that accepts `code`: the authenticator app for six digits, else a
    backup code (used up by this). None when neither does. Each device throttles
    itself after a wrong code (django-otp); the caller counts the failure towards
    the lockout too.
    """
    code = _digits(code).lower()
    if not code or len(code) > 16:
        return None
    # Locked rows: two requests with the same code cannot both use it.
    with transaction.atomic():
        if code.isdigit() and len(code) == 6:
            devices: Any = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        else:
            devices = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices:
            if device.verify_token(code):
                return device
    return None


@transaction.atomic
def second_factor_remove(*, account: User, user: User) -> bool:
    """
    Remove the account's authenticator app and backup codes: by its holder (where
    the second factor is not required of them), or by an admin (a lost phone), after
    which the holder enrols again at their next login. Returns whether there was one.
    """
    if user.pk == account.pk:
        if permissions.must_use_second_factor(account):
            raise PermissionDenied(
                _(
                    "Two-factor authentication is required of your account: it cannot be turned off. "
                    "An admin can reset it."
                )
            )
    elif not permissions.can_reset_second_factor(user):
        raise PermissionDenied(_("Only admins can reset another account's two-factor authentication."))
    had = TOTPDevice.objects.filter(user=account, confirmed=True).exists()
    TOTPDevice.objects.filter(user=account).delete()
    StaticDevice.objects.filter(user=account).delete()
    if had:
        security_event_record(
            kind=SecurityEvent.Kind.SECOND_FACTOR_REMOVED
            if user.pk == account.pk
            else SecurityEvent.Kind.SECOND_FACTOR_RESET,
            account=account,
            actor=user,
        )
    return had


# --- Lockouts, API tokens and passwords --------------------------------------------------------


def lockout_message() -> str:
    """The same words for every locked-out login: nothing in them tells whether the account exists."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    return ngettext(
        "Too many failed attempts to log in. Logging in with this user name, or from this address, is paused "
        "for %(minutes)d minute after the last attempt. Wait, then try again; if you have forgotten your "
        "password, you can reset it.",
        "Too many failed attempts to log in. Logging in with this user name, or from this address, is paused "
        "for %(minutes)d minutes after the last attempt. Wait, then try again; if you have forgotten your "
        "password, you can reset it.",
        minutes,
    ) % {"minutes": minutes}


def api_tokens_revoke(*, account: User) -> int:
    """Revoke every API token of the account (each revocation is logged by tracker/signals.py)."""
    deleted, _by_model = AuthToken.objects.filter(user=account).delete()
    return deleted


def password_reset_allowed(*, request: HttpRequest, email: str) -> bool:
    """
    Fewer than PASSWORD_RESET_LIMIT reset requests in the last hour from this address
    and for this e-mail address. Counted from the security event log, where every
    request is written whether the address belongs to an account or not, so the
    answer says nothing about which addresses do.
    """
    since = timezone.now() - dt.timedelta(hours=1)
    recent = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.PASSWORD_RESET_REQUESTED, at__gte=since)
    limit = settings.PASSWORD_RESET_LIMIT
    address = client_address(request)
    if address is not None and recent.filter(ip_address=address).count() >= limit:
        return False
    return recent.filter(detail__email=email.strip().lower()).count() < limit
