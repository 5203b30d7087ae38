"""
A corridor's public page and its evidence dossier (HTML, PDF) with the check of a
printed copy; an announcing source's ceasefire record; the staff forms for
departures and arrivals; the coordinators' flag review queue.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from corridors import dossier as evidence
from corridors import record as ceasefire_record
from corridors import selectors, services
from corridors.forms import ArrivalForm, DepartureForm, DossierCheckForm, FlagReviewForm
from corridors.models import Corridor, DossierSnapshot, Flag
from tracker import charts, offline, pagecache, permissions
from tracker import services as tracker_services
from tracker import views as tracker_views
from tracker.models import Source
from tracker.pagecache import Rendered
from tracker.staff_views import figure_form_page

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tracker.accounts import MemberRequest


@require_safe
def corridor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return pagecache.serve(request, f"corridor:{pk}", lambda: _render_corridor(request, pk))


def _render_corridor(request: HttpRequest, pk: int) -> Rendered:
    try:
        corridor = selectors.corridor_for_page(pk)
    except Corridor.DoesNotExist:
        raise Http404 from None
    flags = selectors.corridor_flags(corridor)
    windows = selectors.corridor_windows(corridor)
    rows = []
    for window in windows:
        window_flags = flags.get(window.pk, [])
        drawn = [f for f in window_flags if f.status != Flag.Status.WITHDRAWN]
        rows.append(
            {
                "window": window,
                "flags": drawn,
                "withdrawn": [f for f in window_flags if f.status == Flag.Status.WITHDRAWN],
                "timeline": charts.window_timeline(window.starts_at, window.ends_at, corridor.timezone, drawn),
            }
        )
    now = timezone.now()
    context = {
        "corridor": corridor,
        "path": selectors.corridor_paths([corridor])[corridor.pk],
        "rows": rows,
        "now": now,
    }
    changes_at = selectors.next_window_change(windows, now)
    return Rendered(render(request, "corridors/corridor.html", context), changes_at=changes_at)


@require_safe
def source_record(request: HttpRequest, pk: int) -> HttpResponse:
    number = tracker_views._page_number(request, "page")
    params = {"page": str(number)} if number != 1 else {}
    return pagecache.serve(
        request, f"source-record:{pk}", lambda: _render_source_record(request, pk, number), params=params
    )


def _render_source_record(request: HttpRequest, pk: int, number: int) -> Rendered:
    """
    The record's totals over every window; its rows (ceasefire_record.page_rows) one page
    of RECORD_ROWS at a time, so that the page is cheap at any size.
    """
    now = timezone.now()
    try:
        record = ceasefire_record.source_record(pk, now=now)
    except Source.DoesNotExist:
        raise Http404 from None
    groups = [
        (True, record.with_ceasefire, record.ceasefire_totals()),
        (False, record.without_ceasefire, record.other_totals()),
    ]
    groups = [group for group in groups if group[1]]
    rows = [
        (ceasefire, row) for ceasefire, corridors, _totals in groups for row in ceasefire_record.page_rows(corridors)
    ]
    page = tracker_views._page(Paginator(rows, ceasefire_record.RECORD_ROWS), number)
    context = {
        "record": record,
        "groups": [
            {
                "ceasefire": ceasefire,
                "corridors": ceasefire_record.corridor_parts([row for c, row in page.object_list if c == ceasefire]),
                "totals": totals,
                "sentence": ceasefire_record.totals_sentence(totals, ceasefire=ceasefire),
            }
            for ceasefire, _corridors, totals in groups
        ],
        "page": page,
        "links": tracker_views._page_links(request, {"page": number}, "page", page, "record-corridors"),
        "outcomes": ceasefire_record.OUTCOME_LABELS,
        "now": now,
    }
    windows = [w.window for c in record.corridors for w in c.windows]
    return Rendered(
        render(request, "corridors/source_record.html", context),
        changes_at=selectors.next_window_change(windows, now),
    )


@offline.login_required_or_401
def departure_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        DepartureForm,
        save=lambda dep: tracker_services.figure_save(figure=dep, user=request.user),
        template="corridors/staff/departure_form.html",
        saved_message=_("Departure saved."),
    )


@offline.login_required_or_401
def arrival_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        ArrivalForm,
        save=lambda arr: tracker_services.figure_save(figure=arr, user=request.user),
        template="corridors/staff/arrival_form.html",
        saved_message=_("Arrival saved."),
    )


def _require_reviewer(request: HttpRequest) -> None:
    if not permissions.can_review_flags(request.user):
        raise PermissionDenied(_("Only coordinators review flags."))


@login_required
@require_safe
def flag_queue(request: MemberRequest) -> HttpResponse:
    _require_reviewer(request)
    return render(request, "corridors/staff/flag_queue.html", {"flags": selectors.flag_queue(), "forms": {}})


@login_required
@require_POST
def flag_review(request: MemberRequest, pk: int) -> HttpResponse:
    """Acknowledge or dismiss one flag; on an error the queue comes back with the note as typed."""
    _require_reviewer(request)
    flag = get_object_or_404(Flag, pk=pk)
    form = FlagReviewForm(request.POST)
    if form.is_valid():
        try:
            services.flag_review(
                flag=flag, user=request.user, status=form.cleaned_data["status"], note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                form.add_error(None, exc)
            for field, errors in getattr(exc, "error_dict", {}).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            done = (
                _("Flag acknowledged.")
                if form.cleaned_data["status"] == Flag.Status.ACKNOWLEDGED
                else _("Flag dismissed.")
            )
            messages.success(request, done)
            return redirect("corridors:flag_queue")
    context = {"flags": selectors.flag_queue(), "forms": {flag.pk: form}}
    return render(request, "corridors/staff/flag_queue.html", context, status=400)


class PdfUnavailable(Exception):
    """WeasyPrint, or the system libraries it draws text with (Pango), are not installed."""


def render_pdf(html: str) -> bytes:
    """
    The dossier's HTML as an A4 PDF, with its print stylesheet, fetching nothing else
    (its links are links, never fetched). PdfUnavailable when WeasyPrint or Pango is missing.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the package is there, Pango is not
        raise PdfUnavailable(str(exc)) from exc
    from django.contrib.staticfiles import finders

    def no_fetching(url: str, *args: object, **kwargs: object) -> dict[str, object]:
        raise ValueError(f"The dossier fetches nothing: {url}")

    stylesheet = finders.find("corridors/dossier.css")
    document = weasyprint.HTML(string=html, url_fetcher=no_fetching, base_url=None)
    return bytes(document.write_pdf(stylesheets=[weasyprint.CSS(filename=stylesheet)], url_fetcher=no_fetching))


@require_safe
def corridor_dossier(request: HttpRequest, pk: int) -> HttpResponse:
    """The evidence dossier: print-ready HTML, or `?format=pdf`."""
    fmt = request.GET.get("format", "html")
    if fmt not in ("html", "pdf"):
        raise Http404
    params = {"format": "pdf"} if fmt == "pdf" else {}
    return pagecache.serve(request, f"dossier:{pk}", lambda: _render_dossier(request, pk, fmt), params=params)


def _render_dossier(request: HttpRequest, pk: int, fmt: str) -> Rendered:
    now = timezone.now()
    try:
        dossier = evidence.corridor_dossier(pk, now=now)
    except Corridor.DoesNotExist:
        raise Http404 from None
    evidence.snapshot_keep(dossier)
    context = {
        "dossier": dossier,
        "corridor": dossier.corridor,
        "path": dossier.path,
        "outcomes": ceasefire_record.OUTCOME_LABELS,
        "now": now,
        "pdf": fmt == "pdf",
        "verify_url": request.build_absolute_uri(reverse("corridors:dossier_verify")),
    }
    response = render(request, "corridors/dossier.html", context)
    changes_at = evidence.next_change(dossier)
    if fmt != "pdf":
        return Rendered(response, changes_at=changes_at)
    try:
        pdf = render_pdf(response.content.decode())
    except PdfUnavailable as exc:
        message = _(
            "The PDF cannot be made on this server: WeasyPrint or the system libraries it needs "
            "(Pango, a font with Cyrillic) are not installed (%(error)s). The page itself prints as A4."
        ) % {"error": exc}
        return Rendered(HttpResponse(message, status=503, content_type="text/plain; charset=utf-8"))
    return Rendered(HttpResponse(pdf, content_type="application/pdf"), changes_at=changes_at)


DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


def digest_in_pdf(upload: Any) -> str | None:
    """The digest a dossier PDF carries: in its metadata (keywords), else anywhere in its text."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(upload)
        metadata: dict[str, Any] = reader.metadata or {}
        keywords = str(metadata.get("/Keywords", ""))
        found = DIGEST.search(keywords)
        if found:
            return found.group(0)
        for page in reader.pages:
            found = DIGEST.search(page.extract_text() or "")
            if found:
                return found.group(0)
    except (PdfReadError, ValueError, OSError):
        return None
    return None


def dossier_verify(request: HttpRequest) -> HttpResponse:
    """
    Give a dossier's digest (or upload its PDF): is the live data still what it showed,
    and if not, what changed since. Nothing is kept of what is asked.
    """
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    form = DossierCheckForm(request.POST or None, request.FILES or None) if request.method == "POST" else None
    digest = (request.GET.get("digest") or "").strip().lower()
    error = ""
    if form is not None and form.is_valid():
        digest = form.cleaned_data["digest"].strip().lower()
        upload = form.cleaned_data.get("pdf")
        if upload is not None:
            digest = digest_in_pdf(upload) or ""
            if not digest:
                error = _("No dossier digest was found in this file.")
    context: dict[str, Any] = {"digest": digest, "error": error, "form": form or DossierCheckForm()}
    if digest and not error:
        if not DIGEST.fullmatch(digest):
            context["error"] = _("A digest is 64 characters, 0–9 and a–f, as printed on the dossier.")
        else:
            snapshot = DossierSnapshot.objects.filter(digest=digest).first()
            context["snapshot"] = snapshot
            if snapshot is None:
                context["error"] = _("No dossier with this digest was ever generated here.")
            else:
                live = evidence.live_data(snapshot.corridor_id, now=timezone.now())
                context["corridor_gone"] = live is None
                context["changes"] = (
                    []
                    if live is None
                    else [describe_change(c, snapshot.data, live) for c in evidence.changes(snapshot.data, live)]
                )
                context["same"] = live is not None and evidence.digest_of(live) == digest
                context["corridor_name"] = snapshot.data.get("corridor", {}).get("name", "")
    status = 400 if context.get("error") and request.method == "POST" else 200
    response = render(request, "corridors/dossier_verify.html", context, status=status)
    patch_cache_control(response, private=True, no_store=True)
    return response


def describe_change(change: evidence.Change, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A change in words: where ("Window 6 May 2022 08:00 › Departure 12 › count"), before and after."""
    labels = []
    path = change.path
    i = 0
    while i < len(path):
        part = path[i]
        if part in OBJECT_LABELS and i + 1 < len(path) and path[i + 1].isdigit():
            labels.append(f"{OBJECT_LABELS[part]} {path[i + 1]}")
            i += 2
            continue
        labels.append(str(FIELD_LABELS.get(part, part)))
        i += 1

    def shown(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, list):
            return " → ".join(str(v) for v in value)
        return str(value)

    whole = path and path[-1].isdigit()
    return {
        "where": " › ".join(labels),
        "before": _("absent") if whole and change.before is None else ("" if whole else shown(change.before)),
        "after": _("absent") if whole and change.after is None else ("" if whole else shown(change.after)),
        "added": bool(whole and change.before is None),
        "removed": bool(whole and change.after is None),
    }


OBJECT_LABELS = {
    "windows": gettext_lazy("Window"),
    "flags": gettext_lazy("Flag"),
    "departures": gettext_lazy("Departure"),
    "arrivals": gettext_lazy("Arrival"),
}
FIELD_LABELS = {
    "corridor": gettext_lazy("Corridor"),
    "report": gettext_lazy("Report"),
    "name": gettext_lazy("name"),
    "status": gettext_lazy("status"),
    "path": gettext_lazy("path"),
    "timezone": gettext_lazy("time zone"),
    "announced_by": gettext_lazy("announced by"),
    "announced_at": gettext_lazy("announced at"),
    "ceasefire_announced": gettext_lazy("ceasefire announced"),
    "verification": gettext_lazy("verification"),
    "organisation": gettext_lazy("organisation"),
    "verified_at": gettext_lazy("verified at"),
    "source": gettext_lazy("source"),
    "reported_at": gettext_lazy("reported at"),
    "starts_at": gettext_lazy("starts at"),
    "ends_at": gettext_lazy("ends at"),
    "cancelled": gettext_lazy("cancelled"),
    "certainty": gettext_lazy("certainty"),
    "overlap_start": gettext_lazy("overlap start"),
    "overlap_end": gettext_lazy("overlap end"),
    "reviewed_by": gettext_lazy("reviewed by"),
    "reviewed_at": gettext_lazy("reviewed at"),
    "review_note": gettext_lazy("review note"),
    "kind": gettext_lazy("kind"),
    "site": gettext_lazy("site"),
    "started_at": gettext_lazy("started at"),
    "ended_at": gettext_lazy("ended at"),
    "ongoing": gettext_lazy("ongoing"),
    "time_precision": gettext_lazy("time precision"),
    "description": gettext_lazy("description"),
    "count": gettext_lazy("count"),
    "qualifier": gettext_lazy("qualifier"),
    "origin": gettext_lazy("origin"),
    "destination": gettext_lazy("destination"),
    "departed_at": gettext_lazy("departed at"),
    "arrived_at": gettext_lazy("arrived at"),
    "override_reason": gettext_lazy("override reason"),
}
