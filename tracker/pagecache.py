"""
The public pages as every visitor sees them: rendered once, kept in the cache (Redis in
production, shared by every gunicorn and Celery process) and served from it until the
public data changes or time moves the page on.

- **What is kept**: the body of a page (or of its JSON) rendered for a request that
  carries nothing of its own: no session cookie (a logged-in person sees their own
  menu, and may see exact positions), no message cookie, and no query string but the
  page's own parameters in their canonical form, and whose page shows no restricted
  site's exact position (checked after rendering, whoever asked: tracker/secrecy.py).
  Any other request is rendered afresh
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
again. Each process also keeps the pages it served last in its own memory, and asks the
shared cache for the generation at most once every LOCAL_SECONDS: a visitor of a busy
page costs no round trip to Redis, and a write reaches every process within that
second (at once in the process that wrote it). When the cache cannot be reached, every
request renders the page (the cache fails open: tracker/cache.py).

After a write, one request renders each page: the first to claim it (an atomic add in
the shared cache). The requests that come while it renders are served the page as it
was before the write, if it has not expired, instead of rendering it too: a news spike
then costs one render per write and page, not one per visitor who came meanwhile, and
the new figure is on the page as soon as that render is done (within a second or so,
well inside the overview's refresh interval). A page that expired (MAX_AGE, or a window
opening or closing) is never served; without a page from before, each request renders.
The parts of a page that did not change since it was last rendered come from each
process's memory (tracker/templatetags/fragments.py), so a render after a write costs
the queries and the parts the write changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.core.cache import cache as default_cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.translation import get_language

from tracker import accounts, secrecy

# The overview's refresh interval (tracker/static/tracker/live.js is told it by the page).
MAX_AGE = 60
GENERATION_KEY = "pages:generation"
# The cache the pages are kept in: Django's default (the tests give each test its own).
cache: Any = default_cache
# How long a process trusts the generation it last read, and how many pages it keeps in memory.
LOCAL_SECONDS = 1.0
LOCAL_PAGES = 200
# How long the request rendering a page after a write holds its claim at most (should it
# die meanwhile, another renders it after this); meanwhile the others serve the page as it was.
RENDER_CLAIM_SECONDS = 10

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
    "tracker.SecurityEvent",  # the admins' log of logins and account changes
    "corridors.FlagCheck",  # the flag engine's outbox
    "tracker.Heartbeat",  # when the periodic jobs last ran, for /health/
    "tracker.ImportBatch",  # staff imports: what they write is shown, through the models above
    "tracker.ImportedRow",
    "tracker.ExactPositionRead",  # the access log of exact positions, for admins
    "tracker.DemoRow",  # which row is which in the demo scenario, for load_demo
    # The outbound side: endpoints, their events and deliveries, e-mail alerts (staff only).
    "corridors.Webhook",
    "corridors.WebhookEvent",
    "corridors.WebhookDelivery",
    "corridors.WebhookAttempt",
    "corridors.AlertSubscription",
    "corridors.FlagAlert",
    # What a dossier showed, kept under its digest when it is generated (reading writes it).
    "corridors.DossierSnapshot",
)


def public_data_changed() -> None:
    """
    Public data was written in the current transaction: once it commits, every kept page
    is stale (a rolled-back write changes nothing). A failure to reach the cache then is
    logged, not raised: the write has committed.
    """
    transaction.on_commit(_new_generation, robust=True)


def on_write(sender: type, **kwargs: Any) -> None:
    """What every save or delete of SHOWN_MODELS sends (connected by connect())."""
    if kwargs.get("raw"):  # loaddata
        return
    public_data_changed()


def connect() -> None:
    """Every write of what a public page shows makes the kept pages stale. Called by tracker/apps.py."""
    for label in SHOWN_MODELS:
        model = apps.get_model(label)
        post_save.connect(on_write, sender=model, dispatch_uid=f"pagecache:save:{label}")
        post_delete.connect(on_write, sender=model, dispatch_uid=f"pagecache:delete:{label}")
        for m2m in model._meta.many_to_many:
            through = m2m.remote_field.through
            m2m_changed.connect(on_write, sender=through, dispatch_uid=f"pagecache:m2m:{through}")


def _new_generation() -> None:
    generation = uuid.uuid4().hex
    cache.set(GENERATION_KEY, generation, timeout=None)
    local.generation = (time.time(), generation)


class Local:
    """This process's copies: the generation it last read (and when), and the pages it served last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: tuple[float, str | None] = (-math.inf, None)
        self.pages: OrderedDict[str, Kept] = OrderedDict()

    def current_generation(self) -> str | None:
        read_at, generation = self.generation
        now = time.time()
        if not 0 <= now - read_at < LOCAL_SECONDS:
            generation = cache.get(GENERATION_KEY)
            self.generation = (now, generation)
        return generation

    def get(self, key: str) -> Kept | None:
        with self.lock:
            kept = self.pages.get(key)
            if kept is not None:
                self.pages.move_to_end(key)
            return kept

    def put(self, key: str, kept: Kept) -> None:
        with self.lock:
            self.pages[key] = kept
            self.pages.move_to_end(key)
            while len(self.pages) > LOCAL_PAGES:
                self.pages.popitem(last=False)


local = Local()


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
    generation = local.current_generation()
    now = timezone.now()
    kept = _kept(key, generation, now) or _render_once(key, render, generation, now)
    if isinstance(kept, HttpResponse):  # not a page (a 404): as it is, not kept
        patch_vary_headers(kept, ("Cookie",))
        return kept
    response = HttpResponse(kept.body, content_type=kept.content_type)
    response["ETag"] = kept.etag
    patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ("Cookie",))
    # 304 when the request sends this ETag back (typed as possibly None: only when given no response).
    return get_conditional_response(request, etag=kept.etag, response=response) or response


def _render_once(
    key: str, render: Callable[[], Rendered], generation: str | None, now: dt.datetime
) -> Kept | HttpResponse:
    """
    The page rendered and kept, or, while another request renders it after a write, the
    page as it was before (see the module's docstring); a response that is not a page
    (not 200) as it is, not kept.
    """
    stale = _stale(key, now)
    claim = f"{key}:rendering"
    if stale is not None and not cache.add(claim, 1, timeout=RENDER_CLAIM_SECONDS):
        return stale
    try:
        rendered = render()
        if secrecy.shown_in(accounts.current_request()):
            # Never kept, whoever this request came from: a page with a restricted
            # site's exact position is its reader's alone (tracker/secrecy.py).
            patch_cache_control(rendered.response, private=True, no_store=True)
            return rendered.response
        if rendered.response.status_code != 200:
            return rendered.response
        return _keep(key, rendered, generation, now)
    finally:
        if stale is not None:
            cache.delete(claim)


def _stale(key: str, now: dt.datetime) -> Kept | None:
    """The page kept under `key` for an earlier generation (before the latest write), if it has not expired."""
    for source in (local.get, cache.get):
        found = source(key)
        if isinstance(found, Kept) and found.expires > now.timestamp():
            return found
    return None


def _kept(key: str, generation: str | None, now: dt.datetime) -> Kept | None:
    """The page kept under `key` for this generation, not expired: from this process's memory, else the cache."""
    for source in (local.get, cache.get):
        found = source(key)
        if isinstance(found, Kept) and found.generation == generation and found.expires > now.timestamp():
            local.put(key, found)
            return found
    return None


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
    local.put(key, kept)
    return kept
