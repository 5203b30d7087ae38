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
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from corridors import selectors as corridor_selectors
from corridors.models import Arrival, Departure
from corridors.templatetags.corridors import window_span
from tracker import offline, permissions, selectors, services
from tracker.forms import CountForm, HostilityForm, ImportForm
from tracker.imports import services as imports
from tracker.models import CivilianCount, HostilityReport, ImportBatch, Site
from tracker.templatetags.dashboard import admin_change_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.forms import ModelForm
    from django.http import HttpRequest, HttpResponse

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

    An outbox request (offline.py) gets JSON instead: saved with a link, or refused with
    the errors by field.
    """
    if not permissions.can_add_figures(request.user):
        if offline.wants_json(request):
            return JsonResponse(
                {"status": "refused", "errors": {"__all__": [_("Only members of an organisation can add figures.")]}},
                status=403,
            )
        raise PermissionDenied(_("Only members of an organisation can add figures."))
    if request.method == "POST":
        form = form_class(request.POST, user=request.user, now=timezone.now())  # type: ignore[call-arg]

        def save_form() -> Attributed | HttpResponse:
            if form.is_valid():
                try:
                    return save(form.save(commit=False))
                except ValidationError as exc:
                    form.add_error(None, exc)
                except PermissionDenied as exc:
                    form.add_error(None, str(exc))
            return _form_errors(request, form, template)

        # Sent twice with one key (a resend after a lost answer, a second tap): saved once.
        return offline.save_once(request, save_form, lambda saved: _form_saved(request, saved, saved_message))
    recent = selectors.last_entries(request.user.pk, QUICK_FORM_MODELS)
    form = form_class(user=request.user, now=timezone.now(), recent=recent)  # type: ignore[call-arg]
    return render(request, template, {"form": form, "site_zones": offline_zones(), "default_zone": settings.TIME_ZONE})


def _form_saved(
    request: HttpRequest, saved: Attributed | None, saved_message: str | Callable[[Any], str]
) -> HttpResponse:
    if saved is None:  # sent again after the figure it saved was deleted
        message = _("Saved (and deleted since).")
        url = None
    else:
        message = saved_message if isinstance(saved_message, str) else saved_message(saved)
        url = reverse(admin_change_url(saved), args=[saved.pk])
    if offline.wants_json(request):
        return JsonResponse({"status": "saved", "message": message, "url": url}, status=201)
    messages.success(request, message)
    return redirect("tracker:my_figures")


def _form_errors(request: HttpRequest, form: ModelForm, template: str) -> HttpResponse:
    """The form again with everything typed and its errors; or, to the outbox, the errors by field."""
    if offline.wants_json(request):
        return JsonResponse(
            {
                "status": "refused",
                "errors": {name: list(errors) for name, errors in form.errors.items()},
                "labels": {name: str(field.label or name) for name, field in form.fields.items()},
            },
            status=400,
        )
    return render(
        request, template, {"form": form, "site_zones": offline_zones(), "default_zone": settings.TIME_ZONE}, status=400
    )


def offline_zones() -> dict[int, str]:
    """Each site's time zone: a form kept offline sets its time to now at the chosen site (offline.js)."""
    return dict(Site.objects.values_list("pk", "timezone"))


@offline.login_required_or_401
def count_new(request: MemberRequest) -> HttpResponse:
    return figure_form_page(
        request,
        CountForm,
        save=lambda count: services.figure_save(figure=count, user=request.user),
        template="tracker/staff/count_form.html",
        saved_message=_("Count saved. It is on the overview now."),
    )


@offline.login_required_or_401
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
