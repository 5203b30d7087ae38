"""
One line per request on the `tracker.requests` logger (with LOG_REQUESTS; JSON with
LOG_FORMAT=json), and its latency in the metrics, by view. Outermost in MIDDLEWARE,
so that it times everything the others do.

The line gives the path without its query string, and the account's id, never a name:

    event=request method=GET path=/api/v1/sites/ view=api:site-list status=200 duration_ms=12.4 user=-
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from tracker.metrics import REQUEST_LATENCY

log = logging.getLogger("tracker.requests")


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
