"""
Read-only API keys for data users (tracker/apikeys.py): `Authorization: Api-Key KEY`.

A request with a key reads what the public reads (its user is anonymous: no exact
position, no staff account) and may write nothing (403). It is throttled by its own
key's rate, not by its address as the public is: a newsroom's notebook is not held to
the anonymous limit, and two keys behind one address do not share one. Loaded by the
REST framework from settings when it is first imported: no model is imported here
before a request needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, throttling

if TYPE_CHECKING:
    from rest_framework.request import Request

    from tracker.models import ApiKey

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key KEY`: the public's reads, under the key's own rate limit."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        from tracker.apikeys import api_key_find

        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Give the key after Api-Key, with one space between."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeError:
            raw = ""
        key = api_key_find(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(_("This API key is unknown or was revoked."))
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def key_of(request: Request) -> ApiKey | None:
    """The API key a request was made with, if any."""
    from tracker.models import ApiKey

    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


class AnonRateThrottle(throttling.AnonRateThrottle):
    """The public's limit, by address; a request with a key is counted by its key instead."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return None if key_of(request) is not None else super().get_cache_key(request, view)


class UserRateThrottle(throttling.UserRateThrottle):
    """Staff's limit, by account; a request with a key is counted by its key instead."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return None if key_of(request) is not None else super().get_cache_key(request, view)


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Each key's own limit: its `rate`, or the `api_key` rate of the settings."""

    scope = "api_key"

    def __init__(self) -> None:
        # The rate depends on the key, known only with the request (allow_request).
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        key = key_of(request)
        if key is None:
            return True
        self.key_id = key.pk
        self.rate = key.rate or self.THROTTLE_RATES.get(self.scope) or settings.API_KEY_DEFAULT_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.key_id}
