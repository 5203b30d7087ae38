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

After a write, no visitor waits for the page to be rendered again: the request that
finds the page kept from before the write (if it has not expired) is served it at once,
and claims the new render (an atomic add in the shared cache), which its process does
once the response has been sent (when the WSGI server closes it), before it takes the
next request. The requests that come meanwhile, in any process, get the page as it was
too. A news spike then costs one render per write and page, in the background, and the
new figure is on the page as soon as that render is done: within a second or so, well
inside the overview's refresh interval (the refresh after the one that started it). A
burst of writes is rendered once per render, not once per write (the latest generation
when the render starts). A page that expired (a window opening or closing, or MAX_AGE
with no visitor in its last RENEW_SECONDS) is never served: without a page from before
(the first visitor after a cold start, or after such an expiry), each request renders.
To keep a visited page from expiring on MAX_AGE, the first request in its last
RENEW_SECONDS renews it the same way, in the background. The parts of a page that did
not change since it was last rendered come from each process's memory
(tracker/templatetags/fragments.py), so a render after a write costs the queries and the
parts the write changed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
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
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone, translation
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
# A page served in its last RENEW_SECONDS before MAX_AGE is rendered again in the background.
RENEW_SECONDS = 15

logger = logging.getLogger("tracker.pagecache")

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
    "tracker.ApiKey",  # data users' read-only keys, issued by admins: never on a public page
    "tracker.SiteAlias",  # other names and codes by which imports find a site; no public page shows them
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

    def forget(self, key: str) -> None:
        with self.lock:
            self.pages.pop(key, None)

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
    # From when a request serving it renews it in the background (None: never, when it
    # expires as a window opens or closes: a render before then would show the same).
    renew_at: float | None = None


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
    found = _kept(key, generation, now)
    renew = False
    kept: Kept | HttpResponse
    if found is None:
        # Not kept for this generation: the page as it was before the write, its new render
        # after this response (by this request, or by the one that claimed it); else rendered now.
        stale = _stale(key, now)
        if stale is None:
            kept = _render_now(key, render, generation, now)
        else:
            kept, renew = stale, _claim(key)
    elif found.renew_at is not None and now.timestamp() >= found.renew_at and _claim(key):
        # About to expire, and no other request is renewing it: renewed by another process
        # already (then served from the shared cache), or by this request after its
        # response. (While one renews it, the others serve it as it is, without reading the
        # shared cache's copy on every request.)
        fresher = cache.get(key)
        if isinstance(fresher, Kept) and fresher.generation == generation and fresher.expires > found.expires:
            cache.delete(f"{key}:rendering")
            local.put(key, fresher)
            kept = fresher
        else:
            kept, renew = found, True
    else:
        kept = found
    if isinstance(kept, HttpResponse):  # not a page (a 404): as it is, not kept
        patch_vary_headers(kept, ("Cookie",))
        return kept
    response = HttpResponse(kept.body, content_type=kept.content_type)
    response["ETag"] = kept.etag
    patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ("Cookie",))
    # 304 when the request sends this ETag back (typed as possibly None: only when given no response).
    response = get_conditional_response(request, etag=kept.etag, response=response) or response
    if renew:
        # Run by the WSGI server when it closes the response, after sending it (Django runs
        # a response's closers before its request_finished signal, which ends the database
        # connection's request): the visitor does not wait for it.
        closers = response._resource_closers  # type: ignore[attr-defined]
        closers.append(functools.partial(_render_after, request, key, get_language(), render))
    return response


def _claim(key: str) -> bool:
    """Whether this request is the one to render the page `key` again (no other request is at it)."""
    return bool(cache.add(f"{key}:rendering", 1, timeout=RENDER_CLAIM_SECONDS))


def _render_after(request: HttpRequest, key: str, language: str, render: Callable[[], Rendered]) -> None:
    """
    The page rendered again and kept, after the response to `request` was sent (its
    claim released after): under the generation read before the data, as `serve` does.
    A page that is no longer one (a 404 now) or that shows an exact position is no
    longer kept, so that the next request renders it itself.
    """
    token = accounts.set_current_request(request)
    try:
        with translation.override(language):
            generation = local.current_generation()
            now = timezone.now()
            try:
                rendered = render()
            except Http404:
                _forget(key)
                return
            if secrecy.shown_in(request) or rendered.response.status_code != 200:
                _forget(key)
                return
            _keep(key, rendered, generation, now)
    except Exception:
        # The visitor has their page: the failure is logged; the next request claims the render again.
        logger.exception("The page %s could not be rendered again.", key)
    finally:
        accounts.reset_current_request(token)
        cache.delete(f"{key}:rendering")


def _forget(key: str) -> None:
    cache.delete(key)
    local.forget(key)


def _render_now(
    key: str, render: Callable[[], Rendered], generation: str | None, now: dt.datetime
) -> Kept | HttpResponse:
    """
    The page rendered while the visitor waits (no page to serve meanwhile) and kept; a
    response that is not a page (not 200) as it is, not kept.
    """
    rendered = render()
    if secrecy.shown_in(accounts.current_request()):
        # Never kept, whoever this request came from: a page with a restricted
        # site's exact position is its reader's alone (tracker/secrecy.py).
        patch_cache_control(rendered.response, private=True, no_store=True)
        return rendered.response
    if rendered.response.status_code != 200:
        return rendered.response
    return _keep(key, rendered, generation, now)


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
    renew_at: float | None = (expires - dt.timedelta(seconds=RENEW_SECONDS)).timestamp()
    if rendered.changes_at is not None and now < rendered.changes_at < expires:
        expires = rendered.changes_at
        renew_at = None
    body = response.content
    kept = Kept(
        body=body,
        content_type=response["Content-Type"],
        etag='"%s"' % hashlib.md5(body, usedforsecurity=False).hexdigest(),  # noqa: UP031
        generation=generation,
        expires=expires.timestamp(),
        renew_at=renew_at,
    )
    cache.set(key, kept, timeout=max(1, math.ceil((expires - now).total_seconds())))
    local.put(key, kept)
    return kept
