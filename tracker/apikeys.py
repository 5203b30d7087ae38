"""
Read-only API keys for data users (tracker.models.ApiKey): issued by admins, stored
as a SHA-256 digest, revoked by a date. A key is a long random secret, so a plain
hash suffices (no salt, no slow hash): nobody can guess one to try it against the
digest, and the lookup by digest is one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    from tracker.models import ApiKey, User

# What a key starts with, so that one pasted in the wrong place is recognised (a secret scanner, a log).
KEY_PREFIX = "etk_"


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_issue(*, name: str, user: User | None, contact: str = "", rate: str = "") -> tuple[ApiKey, str]:
    """A new key: the stored record, and the key itself, which is shown this once and never stored."""
    from tracker.models import ApiKey

    raw = new_secret()
    key = ApiKey(name=name, contact=contact, rate=rate, created_by=user)
    key_set_secret(key, raw)
    key.full_clean()
    key.save()
    return key, raw


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_set_secret(key: ApiKey, raw: str) -> None:
    key.prefix = raw[: len(KEY_PREFIX) + 4]
    key.digest = digest_of(raw)


def api_key_find(raw: str) -> ApiKey | None:
    """The live (not revoked) key whose secret this is, or None."""
    from tracker.models import ApiKey

    if not raw.startswith(KEY_PREFIX):
        return None
    return ApiKey.objects.filter(digest=digest_of(raw), revoked_at__isnull=True).first()


def api_key_revoke(*, key: ApiKey) -> None:
    """Revoked from now on; the record stays (who had a key, and until when)."""
    from tracker.models import ApiKey

    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
