"""
Helpers for the tests of logins: real TOTP codes computed from a device's secret at
a given instant (as an authenticator app would), and an account with an app.
"""

from __future__ import annotations

import datetime as dt
from base64 import b32decode

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def code_at(key: bytes, when: dt.datetime, *, step: int = 30) -> str:
    """The six digits an authenticator app shows at `when` for the secret `key`."""
    totp = TOTP(key, step=step)
    totp.time = when.timestamp()
    return f"{totp.token():06d}"


def device_code(device: TOTPDevice, when: dt.datetime) -> str:
    return code_at(device.bin_key, when, step=device.step)


def secret_code(secret: str, when: dt.datetime) -> str:
    """The code for a secret as the enrolment page shows it (base32 in groups of four)."""
    return code_at(b32decode(secret.replace(" ", "")), when)


def with_app(user) -> TOTPDevice:
    """Give `user` a confirmed authenticator app."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
