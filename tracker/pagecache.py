"""
The public pages as every visitor sees them: rendered once, kept in the cache (Redis in
production, shared by every gunicorn and Celery process) and served from it until the
public data changes or time moves the page on.

- **What is kept**: the body of a page (or of its JSON) rendered for a request that
  carries nothing of its own: no session cookie (a logged-in person sees their own
  menu, and may see exact positions), no message cookie, and no query string but the
  page's own parameters in their canonical form. Any other request is rendered afresh
  and marked `Cache-Control: private, no-store`; a kept one `no-cache` (a browser may
  keep it, and asks again with its ETag). Both vary on `Cookie`.
- **Per language**: the key names the language (and the page's parameters).
- **Until when**: until the next committed write of public data, which starts a new
  *generation* (`public_data_changed()`: the models a public page shows call it from
  their post_save/post_delete signals, wired in tracker/apps.py, and the flag engine
  calls it for its bulk writes); never longer than MAX_AGE seconds, the overview's
  refresh interval, nor past the moment the page changes by itself (a window opens or
  closes), which the view says: a kept page never shows a window "open now" after it
  closed.
- **Conditional GET**: a kept page has an ETag; a request sending it back in
  If-None-Match gets 304 Not Modified, with no body.

A page is rendered from data read after the generation was read, and kept under that
generation: a write that commits meanwhile starts a newer one, so the page is not served
again. When the cache cannot be reached, every request renders the page (the cache
fails open: tracker/cache.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache as default_cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.translation import get_language

# The overview's refresh interval (tracker/static/tracker/live.js is told it by the page).
MAX_AGE = 60
GENERATION_KEY = "pages:generation"
# The cache the pages are kept in: Django's default (the tests give each test its own).
cache: Any = default_cache

# What a public page shows, by model ("app_label.ModelName"): a save or delete of any of
# them makes every kept page stale. tests/tracker/test_pagecache.py checks that every
# model of the two apps is either here or in NOT_SHOWN, so that a new one is not forgotten.
SHOWN_MODELS = (
    "tracker.Organisation",
    "tracker.Source",
    "tracker.Site",
    "tracker.CivilianCount",
    "tracker.HostilityReport",
    "corridors.Corridor",
    "corridors.CorridorWaypoint",
    "corridors.CorridorWindow",
    "corridors.Departure",
    "corridors.Arrival",
    "corridors.Flag",
)
NOT_SHOWN = (
    "tracker.User",  # staff accounts: the public pages name organisations, never people
    "tracker.LatestCount",  # derived from counts, written with them
    "tracker.IdempotencyRecord",
    "corridors.FlagCheck",  # the flag engine's outbox
)


def public_data_changed() -> None:
    """
    Public data was written in the current transaction: once it commits, every kept page
    is stale (a rolled-back write changes nothing). A failure to reach the cache then is
    logged, not raised: the write has committed.
    """
    transaction.on_commit(_new_generation, robust=True)


def on_write(sender: type, **kwargs: Any) -> None:
    """The post_save/post_delete receiver for SHOWN_MODELS (tracker/apps.py)."""
    if kwargs.get("raw"):  # loaddata
        return
    public_data_changed()


def _new_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


@dataclass(frozen=True)
class Kept:
    body: bytes
    content_type: str
    etag: str
    generation: str | None
    expires: float  # a POSIX timestamp


@dataclass(frozen=True)
class Rendered:
    """What a view renders: the response, and when it changes by itself (None: only when the data does)."""

    response: HttpResponse
    changes_at: dt.datetime | None = None


def shared(request: HttpRequest, params: Mapping[str, str]) -> bool:
    """Whether what this request gets is what every visitor gets (see the module's docstring)."""
    if settings.SESSION_COOKIE_NAME in request.COOKIES or "messages" in request.COOKIES:
        return False
    return request.META.get("QUERY_STRING", "") == canonical_query(params)


def canonical_query(params: Mapping[str, str]) -> str:
    return urlencode(sorted(params.items()))


def serve(
    request: HttpRequest, name: str, render: Callable[[], Rendered], *, params: Mapping[str, str] | None = None
) -> HttpResponse:
    """
    The page `name` for this request: from the cache when it is shared and kept, else
    rendered (and kept when shared). `params` are the page's own query parameters, as
    the view read them.
    """
    params = params or {}
    if not shared(request, params):
        response = render().response
        patch_cache_control(response, private=True, no_store=True)
        patch_vary_headers(response, ("Cookie",))
        return response
    key = f"pages:{name}:{get_language()}:{canonical_query(params)}"
    found = cache.get_many([GENERATION_KEY, key])
    generation, kept = found.get(GENERATION_KEY), found.get(key)
    now = timezone.now()
    if not (isinstance(kept, Kept) and kept.generation == generation and kept.expires > now.timestamp()):
        rendered = render()
        if rendered.response.status_code != 200:
            patch_vary_headers(rendered.response, ("Cookie",))
            return rendered.response
        kept = _keep(key, rendered, generation, now)
    response = HttpResponse(kept.body, content_type=kept.content_type)
    response["ETag"] = kept.etag
    patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ("Cookie",))
    # 304 when the request sends this ETag back (typed as possibly None: only when given no response).
    return get_conditional_response(request, etag=kept.etag, response=response) or response


def _keep(key: str, rendered: Rendered, generation: str | None, now: dt.datetime) -> Kept:
    response = rendered.response
    expires = now + dt.timedelta(seconds=MAX_AGE)
    if rendered.changes_at is not None and now < rendered.changes_at < expires:
        expires = rendered.changes_at
    body = response.content
    kept = Kept(
        body=body,
        content_type=response["Content-Type"],
        etag='"%s"' % hashlib.md5(body, usedforsecurity=False).hexdigest(),  # noqa: UP031
        generation=generation,
        expires=expires.timestamp(),
    )
    cache.set(key, kept, timeout=max(1, math.ceil((expires - now).total_seconds())))
    return kept
