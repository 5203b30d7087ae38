"""
The staff quick forms as an installable web app that works offline (README, "Offline
field entry"; docs/design.md, "Offline entry"): the web app manifest and the service
worker at the site's root, the session check the device's outbox asks before it sends,
and the quick forms' JSON answer to an entry sent from that outbox, exactly once per
`Idempotency-Key`.

The worker and the outbox are small hand-written scripts (tracker/static/tracker/
outbox.js, templates/tracker/sw.js, tracker/static/tracker/offline.js): they cache five
pages and a few static files and send one kind of request, less than Workbox's
smallest build would bring, and the outbox's rules (one sender across tabs, a key per
entry, refused entries kept for correction) are ours either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.contrib.staticfiles import finders
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template.loader import get_template, render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from tracker.api import idempotency
from tracker.models import IdempotencyRecord

if TYPE_CHECKING:
    from tracker.models import Attributed

# What the outbox adds to a quick form's POST: JSON answers instead of pages.
OUTBOX_HEADER = "X-Tracker-Outbox"
KEY_HEADER = "Idempotency-Key"
# A key also comes as a form field: the page puts one in every quick form it submits.
KEY_FIELD = "idempotency_key"
# The static files every offline page needs; the worker keeps them with the pages.
OFFLINE_STATIC = (
    "tracker/dashboard.css",
    "tracker/outbox.js",
    "tracker/offline.js",
    "tracker/icons/icon-192.png",
    "tracker/icons/icon-512.png",
)
# The pages a device keeps for offline use, per language (URL names).
OFFLINE_PAGES = (
    "tracker:my_figures",
    "tracker:count_new",
    "tracker:hostility_new",
    "corridors:departure_new",
    "corridors:arrival_new",
)


def wants_json(request: HttpRequest) -> bool:
    """A request from the device's outbox (offline.js / outbox.js), which reads JSON answers."""
    return request.headers.get(OUTBOX_HEADER) == "1"


def login_required_or_401(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """
    `login_required` for a page, but an outbox request without a login gets 401 and
    JSON instead of a redirect to the login page: the outbox then asks the person to
    log in and keeps the entry until they have.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if wants_json(request):
            return JsonResponse(
                {"status": "login", "login_url": reverse("tracker:login")},
                status=401,
            )
        from django.contrib.auth.views import redirect_to_login

        return redirect_to_login(request.get_full_path())

    return wrapped


def _fingerprint(request: HttpRequest) -> str:
    """The request a key was first used for: path and fields, without the CSRF token and the key itself."""
    fields = sorted(
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", KEY_FIELD)
        for value in values
    )
    body = json.dumps(fields, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotency_key(request: HttpRequest) -> str | None:
    """The key of a quick form's POST (header, else form field); None when it has none or a malformed one."""
    key = (request.headers.get(KEY_HEADER) or request.POST.get(KEY_FIELD) or "").strip()
    return key if 1 <= len(key) <= 255 and key.isprintable() else None


def save_once(
    request: HttpRequest,
    save: Callable[[], Attributed | HttpResponse],
    answer: Callable[[Attributed | None], HttpResponse],
) -> HttpResponse:
    """
    Save a quick form's POST once per (user, key). The first time, `save` validates and
    saves (or returns the form's answer to an error); the key's record is written in the
    same transaction as the figure, so it exists exactly when the figure does. The same
    key again (the outbox resending after a lost answer, a second tap on "save") saves
    nothing and is answered about the figure the first one saved. A refusal keeps
    nothing: the key may be sent again, corrected. `answer` runs after the commit, so
    what it says (which windows a report flags) is what the commit's checks found.

    Two requests with one key at once: the unique (user, key) constraint makes the
    second wait for the first's commit, then it reads the first's record.
    """
    key = idempotency_key(request)
    if key is None or not request.user.is_authenticated:
        result = save()
        return result if isinstance(result, HttpResponse) else answer(result)
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        record, created = idempotency.claim(request.user, key, fingerprint)
        if not created:
            replayed = True
            if record.fingerprint != fingerprint:
                return JsonResponse(
                    {
                        "status": "refused",
                        "errors": {
                            "__all__": [_("This entry's key was already used for another entry; save it again.")]
                        },
                    },
                    status=400,
                )
            figure = _saved_figure(record)
        else:
            replayed = False
            result = save()
            if isinstance(result, HttpResponse):
                transaction.set_rollback(True)
                return result
            figure = result
            record.response_status = 201
            record.response_body = json.dumps({"model": figure._meta.label, "pk": figure.pk})
            record.save(update_fields=["response_status", "response_body"])
    response = answer(figure)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _saved_figure(record: IdempotencyRecord) -> Attributed | None:
    """The figure a key's first request saved; None if it has been deleted since."""
    stored = json.loads(record.response_body or "{}")
    try:
        model = apps.get_model(stored["model"])
    except (KeyError, LookupError):
        return None
    return model.objects.filter(pk=stored.get("pk")).first()


class StaffLogoutView(LogoutView):
    """
    Logging out also clears what the device kept for the staff pages: the worker's
    cache, the outbox and the worker itself (`Clear-Site-Data`, applied by the browser
    before it shows the next page). offline.js warns first when the outbox holds
    entries not sent yet.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"storage"'
        return response


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest: the staff quick forms, installable, in the language asked (`?lang=`)."""
    language = request.GET.get("lang", "")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language_from_request(request)
    with translation.override(language):
        body = {
            "name": _("Evacuation tracker: field entry"),
            "short_name": _("Field entry"),
            "description": _("Counts, hostility reports, departures and arrivals, saved on the device when offline."),
            "lang": language,
            "id": f"/{language}/staff/",
            "start_url": reverse("tracker:my_figures"),
            "scope": "/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#1d3557",
            "icons": [
                {"src": static("tracker/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
                {"src": static("tracker/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
                {
                    "src": static("tracker/icons/icon-maskable-512.png"),
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
            ],
        }
    response = HttpResponse(json.dumps(body, ensure_ascii=False), content_type="application/manifest+json")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@cache
def _static_digest() -> str:
    """A digest of the files the worker keeps: a new release of any of them is a new worker version."""
    digest = hashlib.sha256(get_template("tracker/sw.js").template.source.encode())  # type: ignore[attr-defined]
    for name in OFFLINE_STATIC:
        path = finders.find(name)
        if path:
            with open(path, "rb") as file:
                digest.update(file.read())
        digest.update(static(name).encode())
    return digest.hexdigest()[:16]


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """
    /sw.js, at the root so that its scope is the whole site (it acts on the staff pages
    and the static files only). Rendered: the static files' URLs carry their content
    hash in production. Revalidated on every check so a new release reaches devices.
    """
    pages = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            pages[language] = [reverse(name) for name in OFFLINE_PAGES]
    config = {
        "version": _static_digest(),
        "static": [static(name) for name in OFFLINE_STATIC],
        "pages": pages,
        "outbox": static("tracker/outbox.js"),
    }
    body = render_to_string("tracker/sw.js", {"config": json.dumps(config)})
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def outbox_session(request: HttpRequest) -> JsonResponse:
    """
    What the outbox asks before it sends: who is logged in (it sends only that person's
    entries) and a fresh CSRF token (the one in a page kept offline may be stale).
    401 without a login: the person logs in, then the outbox sends.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"status": "login", "login_url": reverse("tracker:login")}, status=401)
    response = JsonResponse({"user": request.user.pk, "csrf": get_token(request)})
    response["Cache-Control"] = "private, no-store"
    return response
