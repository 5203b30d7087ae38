"""
`Idempotency-Key` on POST (docs/api.md, "Conventions"): a client on a bad connection that
does not know whether its request arrived sends it again with the same key, and
gets the first response again instead of a second copy of what it created.

The record of a key is written in the request's own transaction (tracker/api/base.py
wraps every write in one), so it exists exactly when the request's writes do. Two
requests with one key at the same time: the unique (user, key) constraint makes the
second wait for the first to commit, then it reads the first's response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from tracker.models import IdempotencyRecord

if TYPE_CHECKING:
    from rest_framework.request import Request

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def claim(user: Any, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """
    The record of this user's key, and whether this request made it (then it is the
    first with that key). In the caller's transaction: the unique (user, key) constraint
    makes a second request with the key wait for the first's commit, then read its record.
    """
    now = timezone.now()
    # An expired record is no longer a promise: the key may be used afresh.
    IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=now - settings.IDEMPOTENCY_KEY_TTL).delete()
    return IdempotencyRecord.objects.get_or_create(
        user=user, key=key, defaults={"fingerprint": fingerprint, "created_at": now}
    )


def respond_once(request: Request, respond: Callable[[], Response]) -> Response:
    """
    Run `respond` unless this user sent this key within IDEMPOTENCY_KEY_TTL; then
    give the response stored the first time. Without a key (or a login), just run it.
    Only a successful response is kept: an error rolls the record back with the rest.
    """
    key = request.headers.get(HEADER)
    if key is None or not request.user.is_authenticated:
        return respond()
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise exceptions.ValidationError({"detail": _("An Idempotency-Key is 1 to 255 printable characters.")})
    fingerprint = _fingerprint(request)
    record, created = claim(request.user, key, fingerprint)
    if not created:
        if record.fingerprint != fingerprint:
            raise exceptions.ValidationError(
                {"detail": _("This Idempotency-Key was already used for another request; use a new key.")}
            )
        body = json.loads(record.response_body or "null")
        return Response(body, status=record.response_status, headers={REPLAYED_HEADER: "true"})
    response = respond()
    record.response_status = response.status_code
    record.response_body = json.dumps(response.data, cls=JSONEncoder)
    record.save(update_fields=["response_status", "response_body"])
    return response
