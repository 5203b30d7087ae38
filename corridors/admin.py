"""Corridors, their windows and schedules, departures, arrivals and flags in the admin."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from corridors import services, webhooks
from corridors.models import (
    AlertSubscription,
    Arrival,
    Corridor,
    CorridorWaypoint,
    CorridorWindow,
    Departure,
    Flag,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    stranded_message,
)
from corridors.schedule import MAX_DAYS
from tracker import permissions
from tracker.admin import ZONED_TIMES, FigureAdmin, RoleAdmin
from tracker.adminsite import staff_member
from tracker.validators import NOTE_MAX_LENGTH, validate_date
from tracker.wording import utc_offset

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


class CoordinatorAdmin(RoleAdmin):
    """Anyone on the staff may look; coordinators manage."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_places(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_places(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_places(request.user)


class WaypointFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """The whole new path (origin and destination from the corridor's form) still holds its movements."""
        super().clean()
        corridor = self.instance
        if corridor.pk is None or corridor.origin_id is None or corridor.destination_id is None:
            return
        stranded = corridor.movements_off_path(
            [corridor.origin_id, *(s.pk for s in self.path()), corridor.destination_id]
        )
        if stranded:
            raise stranded_message(stranded)

    def path(self) -> list[Any]:
        """The waypoint sites as entered, in order."""
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("site")
        ]
        kept.sort(key=lambda data: data["position"])
        return [data["site"] for data in kept]


class WaypointInline(admin.TabularInline):
    model = CorridorWaypoint
    formset = WaypointFormSet
    fields = ("position", "site")
    autocomplete_fields = ("site",)
    extra = 0
    verbose_name_plural = _("waypoints (in order, between origin and destination)")

    has_add_permission = CoordinatorAdmin.has_add_permission
    has_change_permission = CoordinatorAdmin.has_change_permission
    has_delete_permission = CoordinatorAdmin.has_delete_permission


class WindowFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Windows entered together must not overlap each other (the model checks those already saved)."""
        super().clean()
        live = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and not form.cleaned_data.get("cancelled")
        ]
        live.sort(key=lambda data: data["starts_at"])
        for earlier, later in pairwise(live):
            if later["starts_at"] < earlier["ends_at"]:
                raise ValidationError(_("Two of these windows overlap: a corridor's live windows may not."))


class WindowInline(admin.TabularInline):
    model = CorridorWindow
    formset = WindowFormSet
    fields = ("starts_at", "ends_at", "local_times", "cancelled")
    readonly_fields = ("local_times",)
    extra = 0
    show_change_link = True
    verbose_name_plural = _("windows (local times at the origin beside them)")
    formfield_overrides = ZONED_TIMES

    has_add_permission = CoordinatorAdmin.has_add_permission
    has_change_permission = CoordinatorAdmin.has_change_permission
    has_delete_permission = CoordinatorAdmin.has_delete_permission

    @admin.display(description=_("local time at the origin"))
    def local_times(self, window: CorridorWindow) -> str:
        if window.pk is None:
            return "—"
        start, end = window.local_starts_at(), window.local_ends_at()
        zone = window.corridor.origin.timezone
        if start.utcoffset() == end.utcoffset():
            return f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} {zone} ({utc_offset(start)})"
        return f"{start:%Y-%m-%d %H:%M} ({utc_offset(start)})–{end:%Y-%m-%d %H:%M} ({utc_offset(end)}) {zone}"


class ScheduleForm(forms.Form):
    local_start = forms.TimeField(label=_("opens at (local)"), widget=forms.TimeInput(attrs={"type": "time"}))
    local_end = forms.TimeField(
        label=_("closes at (local)"),
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=_("At or before the opening time: the window runs past midnight into the next day."),
    )
    first_date = forms.DateField(
        label=_("first day"), widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_date]
    )
    days = forms.IntegerField(label=_("number of days"), min_value=1, max_value=MAX_DAYS, initial=1)


@admin.register(Corridor)
class CorridorAdmin(CoordinatorAdmin):
    list_display = ("name", "origin", "destination", "status", "ceasefire_announced", "announced_by", "announced_at")
    list_filter = ("status", "ceasefire_announced")
    search_fields = ("name", "origin__name", "destination__name")
    autocomplete_fields = ("origin", "destination", "announced_by")
    list_select_related = ("origin", "destination", "announced_by")
    fields = (
        "name",
        ("origin", "destination"),
        "status",
        ("announced_by", "announced_at"),
        "ceasefire_announced",
        "verification",
        "organisation",
        "entered_by",
    )
    readonly_fields = ("organisation", "entered_by")
    inlines = (WaypointInline, WindowInline)
    # The announcement is a figure: its time is read as the figures' are (windows are not).
    formfield_overrides = FigureAdmin.formfield_overrides
    change_form_template = "admin/corridors/corridor/change_form.html"

    def save_model(self, request: HttpRequest, obj: Corridor, form: Any, change: bool) -> None:
        """Nothing yet: save_related() saves the corridor with its whole new path in one service call."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The path rules (corridors/services.py, `corridor_save`) hold for origin,
        # waypoints and destination together, so they are written together.
        waypoints = next((f.path() for f in formsets if f.model is CorridorWaypoint), None)
        services.corridor_save(corridor=form.instance, user=staff_member(request), waypoints=waypoints)
        super().save_related(request, form, formsets, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is CorridorWaypoint:
            # Saved with the corridor, in save_related(); the change message reads these.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        windows = formset.save(commit=False)
        for window in formset.deleted_objects:
            services.window_delete(window=window, user=staff_member(request))
        for window in windows:
            services.window_save(window=window, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: Corridor) -> None:
        services.corridor_delete(corridor=obj, user=staff_member(request))

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/schedule/",
                self.admin_site.admin_view(self.schedule_view),
                name="corridors_corridor_schedule",
            ),
            *super().get_urls(),
        ]

    def schedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Add a schedule: "08:00–18:00 local, 3 days from 5 May" becomes three windows."""
        corridor = get_object_or_404(Corridor.objects.select_related("origin"), pk=object_id)
        if not self.has_change_permission(request, corridor):
            raise PermissionDenied
        form = ScheduleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                windows = services.schedule_expand(corridor=corridor, user=staff_member(request), **form.cleaned_data)
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                self.message_user(
                    request,
                    _("%(n)d window(s) added: %(windows)s")
                    % {"n": len(windows), "windows": "; ".join(map(str, windows))},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:corridors_corridor_change", args=[corridor.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add a schedule to %(corridor)s") % {"corridor": corridor},
            "corridor": corridor,
            "form": form,
            "opts": self.model._meta,
            "original": corridor,
        }
        return TemplateResponse(request, "admin/corridors/corridor/schedule_form.html", context)


@admin.register(CorridorWindow)
class CorridorWindowAdmin(CoordinatorAdmin):
    list_display = ("corridor", "starts_at", "ends_at", "local_times", "cancelled", "open_flags")
    list_filter = ("cancelled", "corridor")
    search_fields = ("corridor__name",)
    autocomplete_fields = ("corridor",)
    date_hierarchy = "starts_at"
    list_select_related = ("corridor__origin",)
    fields = ("corridor", "starts_at", "ends_at", "cancelled")
    actions = ("cancel",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CorridorWindow]:
        return super().get_queryset(request).with_flag_counts()

    @admin.display(description=_("open flags"), ordering="open_flags")
    def open_flags(self, window: CorridorWindow) -> int:
        return window.open_flags  # type: ignore[attr-defined]

    local_times = WindowInline.local_times

    def save_model(self, request: HttpRequest, obj: CorridorWindow, form: Any, change: bool) -> None:
        services.window_save(window=obj, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: CorridorWindow) -> None:
        services.window_delete(window=obj, user=staff_member(request))

    @admin.action(description=_("Cancel the selected windows"))
    def cancel(self, request: HttpRequest, queryset: QuerySet[CorridorWindow]) -> None:
        for window in queryset.filter(cancelled=False):
            window.cancelled = True
            services.window_save(window=window, user=staff_member(request))
        self.message_user(request, _("Windows cancelled."), messages.SUCCESS)


class MovementAdmin(FigureAdmin):
    autocomplete_fields: tuple[str, ...] = ("origin", "corridor", "window", "source")
    list_filter = ("verification", "qualifier", "corridor", "organisation")
    search_fields = ("origin__name", "corridor__name", "source__name")


@admin.register(Departure)
class DepartureAdmin(MovementAdmin):
    list_display = ("origin", "count", "qualifier", "departed_at", "corridor", "source", "verification")
    date_hierarchy = "departed_at"
    list_select_related = ("origin", "corridor", "source")
    fields = (
        "origin",
        ("corridor", "window"),
        "departed_at",
        ("count", "qualifier"),
        "source",
        "reported_at",
        "verification",
        "override_reason",
        *FigureAdmin.readonly_fields,
    )


@admin.register(Arrival)
class ArrivalAdmin(MovementAdmin):
    list_display = ("destination", "origin", "count", "qualifier", "arrived_at", "corridor", "source", "verification")
    autocomplete_fields = ("origin", "destination", "corridor", "window", "source")
    date_hierarchy = "arrived_at"
    list_select_related = ("origin", "destination", "corridor", "source")
    fields = (
        ("origin", "destination"),
        ("corridor", "window"),
        "arrived_at",
        ("count", "qualifier"),
        "source",
        "reported_at",
        "verification",
        "override_reason",
        *FigureAdmin.readonly_fields,
    )


class DismissForm(forms.Form):
    note = forms.CharField(
        label=_("Why are these flags dismissed?"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Kept with each flag and in its history, e.g. “the report is about another road”."),
    )


@admin.register(Flag)
class FlagAdmin(RoleAdmin):
    """
    Flags are raised and withdrawn by the system. Coordinators review them here:
    acknowledge, or dismiss with a reason (corridors.services.flag_review).
    """

    list_display = ("window", "hostility", "certainty", "status", "overlap_start", "overlap_end", "raised_at")
    actions = ("acknowledge", "dismiss")
    list_filter = ("status", "certainty")
    search_fields = ("window__corridor__name", "hostility__site__name")
    list_select_related = ("window__corridor__origin", "hostility__site")
    readonly_fields = (
        "window",
        "hostility",
        "overlap_start",
        "overlap_end",
        "certainty",
        "status",
        "raised_at",
        "reviewer",
        "reviewed_at",
        "review_note",
    )

    def has_review_permission(self, request: HttpRequest) -> bool:
        return permissions.can_review_flags(request.user)

    def _review(self, request: HttpRequest, queryset: QuerySet[Flag], status: str, note: str = "") -> None:
        done = 0
        for flag in queryset:
            try:
                services.flag_review(flag=flag, user=staff_member(request), status=status, note=note)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{flag}: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                _("Flags reviewed: %(n)d (%(status)s).") % {"n": done, "status": Flag.Status(status).label},
                messages.SUCCESS,
            )

    @admin.action(description=_("Acknowledge the selected flags"), permissions=["review"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Flag]) -> None:
        self._review(request, queryset, Flag.Status.ACKNOWLEDGED)

    @admin.action(description=_("Dismiss the selected flags, with a reason"), permissions=["review"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Flag]) -> HttpResponse | None:
        """Asks for the reason on an intermediate page, then dismisses each flag with it."""
        form = DismissForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._review(request, queryset, Flag.Status.DISMISSED, form.cleaned_data["note"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Dismiss flags"),
            "opts": self.model._meta,
            "flags": queryset,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/corridors/flag/dismiss.html", context)


class WebhookForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=[(t, t) for t in Webhook.EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Webhook
        fields = ("url", "events", "corridors", "active")

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        problem = webhooks.url_problem(url)
        if problem:
            raise ValidationError(problem)
        return url


class WebhookDeliveryInline(admin.TabularInline):
    """The delivery log: each event, and each attempt at it (status code or error, latency), newest first."""

    model = WebhookDelivery
    fields = readonly_fields = ("event", "status", "attempts", "next_attempt_at", "delivered_at", "log")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = _("delivery log")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        attempts = Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
        return super().get_queryset(request).select_related("event").prefetch_related(attempts).order_by("-id")

    @admin.display(description=_("attempts: status code or error, latency"))
    def log(self, delivery: WebhookDelivery) -> str:
        return "; ".join(
            f"#{a.number} {a.status_code or a.error} ({a.latency_ms} ms)" for a in delivery.attempt_log.all()
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.is_coordinator(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Coordinators manage their own endpoints, admins every one. The secret is shown once, when it is made."""

    form = WebhookForm
    list_display = ("url", "owner", "active", "disabled_reason", "created_at")
    list_filter = ("active",)
    readonly_fields = ("owner", "disabled_reason")
    filter_horizontal = ("corridors",)
    actions = ("send_test",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Webhook]:
        queryset = super().get_queryset(request).select_related("owner")
        return queryset if permissions.is_admin(request.user) else queryset.filter(owner=request.user)

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [WebhookDeliveryInline] if obj is not None else []

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.is_coordinator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.is_coordinator(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        services.webhook_save(webhook=obj, user=staff_member(request))
        if not change:
            messages.warning(
                request,
                _("The signing secret of this endpoint, shown only now: %(secret)s") % {"secret": obj.secret},
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.instance.corridors.set(form.cleaned_data["corridors"])

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(webhook=obj, user=staff_member(request))

    @admin.action(description=_("Send a test event to the selected endpoints"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        now = timezone.now()
        for webhook in queryset:
            webhooks.webhook_send_test(webhook=webhook, now=now)
        self.message_user(request, _("Test events sent: see each endpoint's delivery log."), messages.SUCCESS)


@admin.register(AlertSubscription)
class AlertSubscriptionAdmin(admin.ModelAdmin):
    """A coordinator's e-mail alerts of raised flags: their own (admins: everyone's)."""

    list_display = ("user", "delivery", "language", "active")
    fields = ("corridors", "delivery", "language", "active")
    filter_horizontal = ("corridors",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertSubscription]:
        queryset = super().get_queryset(request).select_related("user")
        return queryset if permissions.is_admin(request.user) else queryset.filter(user=staff_member(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_review_flags(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_review_flags(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request: HttpRequest, obj: AlertSubscription, form: Any, change: bool) -> None:
        services.alert_subscription_save(subscription=obj, user=staff_member(request))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.instance.corridors.set(form.cleaned_data["corridors"])
