"""
Request-wide wiring: one log line and one latency sample per request (the
operations); the request being answered (for the security event log), and the gate
that keeps an account that owes its second factor out of everything else until it
has given it (logins).

The log line, on the `tracker.requests` logger with LOG_REQUESTS (JSON with
LOG_FORMAT=json), gives the path without its query string, and the account's id,
never a name:

    event=request method=GET path=/api/v1/sites/ view=api:site-list status=200 duration_ms=12.4 user=-
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _

from tracker import accounts, secrecy
from tracker.metrics import REQUEST_LATENCY

log = logging.getLogger("tracker.requests")

# What an account may reach before its second factor: the pages that take it, and logging out.
BEFORE_SECOND_FACTOR = frozenset(
    {
        "tracker:two_factor_verify",
        "tracker:two_factor",
        "tracker:logout",
        "admin:logout",
        # The web app's manifest and worker carry no data; the worker must update for everyone.
        "web_manifest",
        "service_worker",
        # API tokens are asked for with the code itself; no session is used.
        "api:token",
    }
)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = accounts.set_current_request(request)
        try:
            return self.get_response(request)
        finally:
            accounts.reset_current_request(token)


class ExactPositionMiddleware:
    """
    A response that carries a restricted site's exact position (tracker/secrecy.py,
    `shown`) is for its reader alone: `Cache-Control: private, no-store` and
    `Vary: Authorization, Cookie`, so that no shared cache (a proxy, a CDN) keeps it
    and serves it to the public; and each such site is written to the access log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        site_ids = secrecy.shown_in(request)
        if site_ids:
            if "max-age" in response.get("Cache-Control", ""):
                patch_cache_control(response, max_age=0)
            patch_cache_control(response, private=True, no_store=True)
            patch_vary_headers(response, ("Authorization", "Cookie"))
            secrecy.reads_record(request=request, response=response, site_ids=site_ids)
        return response


class SecondFactorMiddleware:
    """
    A session that logged in with a password alone, for an account that has an
    authenticator app or must have one (STAFF_2FA_REQUIRED), reaches nothing but the
    code page (or, without an app yet, the enrolment page) and logging out: no staff
    page, no admin page, no API call with the session, and no public page either
    (those show the exact positions this account may see).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user: Any = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in BEFORE_SECOND_FACTOR:
            return None
        if not accounts.second_factor_due(user):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"detail": _("This session has not given its second factor: finish logging in, or use a token.")},
                status=403,
            )
        target = "tracker:two_factor_verify" if accounts.has_second_factor(user) else "tracker:two_factor"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    # Never the raw path: a label per distinct URL would grow without bound.
    return match.view_name if match is not None else "<unmatched>"


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        view = _view_name(request)
        REQUEST_LATENCY.labels(view, request.method or "", str(response.status_code)).observe(elapsed)
        if settings.LOG_REQUESTS:
            user = getattr(request, "user", None)
            user_id = user.pk if user is not None and user.is_authenticated else None
            fields = {
                "method": request.method,
                "path": request.path,
                "view": view,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user": user_id,
            }
            log.info(
                "event=request method=%s path=%s view=%s status=%s duration_ms=%s user=%s",
                *(fields[key] if fields[key] is not None else "-" for key in fields),
                extra=fields,
            )
        return response
