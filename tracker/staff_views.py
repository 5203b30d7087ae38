"""
Staff pages (login required): the person's own figures and the quick forms for a
count and a hostility report. Every write goes through the services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from corridors import selectors as corridor_selectors
from corridors.models import Arrival, Departure
from corridors.templatetags.corridors import window_span
from tracker import permissions, selectors, services
from tracker.forms import CountForm, HostilityForm, ImportForm
from tracker.imports import services as imports
from tracker.models import CivilianCount, HostilityReport, ImportBatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.forms import ModelForm
    from django.http import HttpResponse

    from tracker.accounts import MemberRequest
    from tracker.models import Attributed


# The figures the quick forms add: the last site and source typed in any of them are the next one's defaults.
QUICK_FORM_MODELS = (CivilianCount, HostilityReport, Departure, Arrival)


@login_required
def my_figures(request: MemberRequest) -> HttpResponse:
    figures = selectors.figures_entered_by(request.user.pk, QUICK_FORM_MODELS)
    return render(request, "tracker/staff/my_figures.html", {"figures": figures})


def figure_form_page(
    request: MemberRequest,
    form_class: type[ModelForm],
    *,
    save: Callable[[Any], Attributed],
    template: str,
    saved_message: str | Callable[[Any], str],
) -> HttpResponse:
    """
    Show a quick form, or save what was posted through `save` (a service call). On
    any error the form comes back with everything typed still in it.
    """
    if not permissions.can_add_figures(request.user):
        raise PermissionDenied(_("Only members of an organisation can add figures."))
    now = timezone.now()
    recent = () if request.method == "POST" else selectors.last_entries(request.user.pk, QUICK_FORM_MODELS)
    form = form_class(request.POST or None, user=request.user, now=now, recent=recent)  # type: ignore[call-arg]
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form.save(commit=False))
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, saved_message if isinstance(saved_message, str) else saved_message(saved))
            return redirect("tracker:my_figures")
    return render(request, template, {"form": form}, status=400 if form.errors else 200)


@login_required
def count_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        CountForm,
        save=lambda count: services.figure_save(figure=count, user=request.user),
        template="tracker/staff/count_form.html",
        saved_message=_("Count saved. It is on the overview now."),
    )


@login_required
def hostility_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        HostilityForm,
        save=lambda report: services.hostility_report_save(report=report, user=request.user),
        template="tracker/staff/hostility_form.html",
        saved_message=report_saved_message,
    )


def report_saved_message(report: HostilityReport) -> str:
    """Which corridor windows the report flags; or, while its check is still queued (production), that it is."""
    pending, flags = corridor_selectors.report_flags(report.pk)
    if pending:
        return _(
            "Hostility report saved. It is being checked against the corridor windows now (usually within a "
            "minute): any window it flags will show on its corridor's page and in the coordinators' flag queue."
        )
    if not flags:
        return _("Hostility report saved. It falls in no corridor window: it flags none.")
    windows = "; ".join(f"{flag.window.corridor.name}, {window_span(flag.window)}" for flag in flags)
    return ngettext(
        "Hostility report saved. It flags %(n)d corridor window: %(windows)s.",
        "Hostility report saved. It flags %(n)d corridor windows: %(windows)s.",
        len(flags),
    ) % {"n": len(flags), "windows": windows}


# --- Imports (tracker/imports/) ----------------------------------------------------


@login_required
def imports_page(request: MemberRequest) -> HttpResponse:
    """Upload a file for a preview; the imports the person may see, newest first."""
    if not permissions.is_staff_member(request.user):
        raise PermissionDenied
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > settings.IMPORT_MAX_BYTES:
                raise ValidationError(
                    {
                        "file": _("The file is larger than %(limit)d bytes: split it into several files.")
                        % {"limit": settings.IMPORT_MAX_BYTES}
                    }
                )
            batch = imports.import_create(
                user=request.user,
                file_name=upload.name or "upload",
                content=upload.read(),
                resource=form.cleaned_data["resource"],
                file_format=form.cleaned_data["format"],
                dry_run=True,
                retract_missing=form.cleaned_data["retract_missing"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("tracker:import", batch.pk)
    batches = imports.import_batches_for(request.user)[:20]
    return render(
        request, "tracker/staff/imports.html", {"form": form, "batches": batches}, status=400 if form.errors else 200
    )


# The most errors the page lists; the API gives them all.
ERRORS_SHOWN = 500


@login_required
def import_detail(request: MemberRequest, pk: int) -> HttpResponse:
    """An import's progress while it runs; then its preview (or outcome), with apply or undo."""
    batch = get_object_or_404(imports.import_batches_for(request.user), pk=pk)
    errors = batch.errors[:ERRORS_SHOWN]
    context = {
        "batch": batch,
        "working": batch.status in (ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING),
        "rows_done": imports.import_progress(batch),
        "errors": errors,
        "more_errors": len(batch.errors) > len(errors),
        "error_rows": len({error["row"] for error in batch.errors}),
        "row_outcomes": batch.row_outcomes,
        "more_rows": batch.rows_total > len(batch.row_outcomes),
        "flagged_windows": imports.import_flagged_windows(batch),
    }
    return render(request, "tracker/staff/import.html", context)


@login_required
@require_POST
def import_apply(request: MemberRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(imports.import_batches_for(request.user), pk=pk)
    try:
        imports.import_apply(batch=batch, user=request.user, valid_only=bool(request.POST.get("valid_only")))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    return redirect("tracker:import", batch.pk)


@login_required
@require_POST
def import_undo(request: MemberRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(imports.import_batches_for(request.user), pk=pk)
    try:
        imports.import_undo(batch=batch, user=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    else:
        messages.success(request, _("The import is undone."))
    return redirect("tracker:import", batch.pk)
