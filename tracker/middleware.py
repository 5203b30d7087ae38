"""
Request-wide wiring of logins: the request being answered (for the security event
log), and the gate that keeps an account that owes its second factor out of
everything else until it has given it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from tracker import accounts

# What an account may reach before its second factor: the pages that take it, and logging out.
BEFORE_SECOND_FACTOR = frozenset(
    {
        "tracker:two_factor_verify",
        "tracker:two_factor",
        "tracker:logout",
        "admin:logout",
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
