"""A corridor's public page; the staff forms for departures and arrivals; the coordinators' flag review queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from corridors import selectors, services
from corridors.forms import ArrivalForm, DepartureForm, FlagReviewForm
from corridors.models import Corridor, Flag
from tracker import charts, pagecache, permissions
from tracker import services as tracker_services
from tracker.pagecache import Rendered
from tracker.staff_views import figure_form_page

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

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


@login_required
def departure_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        DepartureForm,
        save=lambda dep: tracker_services.figure_save(figure=dep, user=request.user),
        template="corridors/staff/departure_form.html",
        saved_message=_("Departure saved."),
    )


@login_required
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
