"""
Staff data entry in the Django admin.

Every save and delete goes through tracker/services.py or corridors/services.py, so
the admin obeys the same rules as the API and the staff pages and records the
user in the audit history. What each role sees and may change comes from
tracker/permissions.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from tracker import accounts, apikeys, audit, permissions, secrecy, services
from tracker.admin_time import ZonedSplitDateTime
from tracker.adminsite import staff_member
from tracker.api.renderers import csv_cell
from tracker.forms import FieldErrorsMixin, local_to_utc, local_to_utc_with_offset, parse_offset
from tracker.models import (
    ApiKey,
    CivilianCount,
    ExactPositionRead,
    HostilityReport,
    Organisation,
    SecurityEvent,
    Site,
    SiteAlias,
    Source,
    User,
    Verification,
)

if TYPE_CHECKING:
    from django.http import HttpRequest

admin.site.site_header = _("Evacuation tracker")
admin.site.site_title = _("Evacuation tracker")
admin.site.index_title = _("Data entry")


# Every date-and-time box in the admin says the zone and offset it is read in (tracker/admin_time.py).
ZONED_TIMES: dict[Any, dict[str, Any]] = {models.DateTimeField: {"widget": ZonedSplitDateTime}}


def person_shown(person: User | None, *, organisation_id: int | None = None) -> str:
    """
    A staff account as the person reading the admin may see it: its user name to a
    coordinator, an admin, or a member of the same organisation; to anyone else only
    the organisation (tracker.permissions.can_see_people_of).
    """
    if person is None:
        return "-"
    request = accounts.current_request()
    viewer = getattr(request, "user", None)
    if permissions.can_see_people_of(viewer, person.organisation_id) or (viewer is not None and viewer.pk == person.pk):
        return person.get_username()
    if person.organisation is not None:
        return _("someone at %(organisation)s") % {"organisation": person.organisation}
    return gettext("a member of staff")  # at request time, as the line above: a str, not a lazy one


class PeopleMaskedHistory(HistoricalRecordContextHelper):
    """A change's old and new accounts (created_by, reviewed_by...) as the reader may see them."""

    def prepare_delta_change_value(self, change: Any, value: Any) -> Any:
        if isinstance(value, User):
            return person_shown(value)
        return super().prepare_delta_change_value(change, value)


class RoleAdmin(SimpleHistoryAdmin):
    """
    Any staff member may look; subclasses say who may write. Django's per-model
    permissions are not used. Staff accounts (who entered, who reviewed, who changed
    what in the history) show as `person_shown` gives them: a reporter sees the people
    of their own organisation, and of any other only the organisation.
    """

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record: Any) -> Any:
        return PeopleMaskedHistory(self.model, historical_record)

    def set_history_delta_changes(self, request: HttpRequest, historical_records: Any, **kwargs: Any) -> None:
        super().set_history_delta_changes(request, historical_records, **kwargs)
        for record in historical_records:
            user = record.history_user
            if user is not None and person_shown(user) != user.get_username():
                # The history list prints the account and links to it by id: show a
                # stand-in that names the organisation, with no id to link to.
                record.history_user_id = None
                record._state.fields_cache["history_user"] = User(username=person_shown(user))

    @admin.display(description=_("entered by"))
    def entered_by(self, obj: Any) -> str:
        return person_shown(obj.created_by)

    @admin.display(description=_("reviewed by"))
    def reviewer(self, obj: Any) -> str:
        return person_shown(obj.reviewed_by)

    formfield_overrides = ZONED_TIMES

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.is_staff_member(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.is_staff_member(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The bulk "delete selected" action would bypass the services and the history.
        for obj in queryset:
            self.delete_model(request, obj)


TIME_WITH_OFFSET = re.compile(r"^(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<offset>[+-]\d{2}:?\d{2})$")


class OffsetTimeField(forms.TimeField):
    """
    The time box of a figure's date and time: "03:30", or "03:30 +02:00" with the UTC
    offset, which is how one says which of a time the clocks showed twice is meant.
    Gives a time with a fixed-offset tzinfo when an offset was typed.
    """

    def to_python(self, value: Any) -> dt.time | None:
        match = TIME_WITH_OFFSET.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            return super().to_python(value)
        time, offset = super().to_python(match["time"]), parse_offset(match["offset"])
        return time.replace(tzinfo=dt.timezone(offset)) if time is not None and offset is not None else time


class FigureDateTimeField(forms.SplitDateTimeField):
    """
    A figure's date and time in the admin, read in the admin's time zone (TIME_ZONE)
    as the staff forms read theirs in the site's: a time the clocks skipped, or one
    they showed twice without an offset saying which, is refused with the valid
    choices named (tracker/forms.py, `local_to_utc`), never moved.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        date_field, time_field = self.fields
        self.fields = (date_field, OffsetTimeField(error_messages=time_field.error_messages))

    def compress(self, data_list: Any) -> dt.datetime | None:
        if not data_list:
            return None
        day, time = data_list
        if day in self.empty_values or time in self.empty_values:
            return super().compress(data_list)  # its own "enter a date / a time" errors
        local = dt.datetime.combine(day, time.replace(tzinfo=None))
        zone_name = timezone.get_current_timezone_name()
        if time.tzinfo is None:
            return local_to_utc(local, zone_name)
        return local_to_utc_with_offset(local, zone_name, time.utcoffset())


class FigureAdminForm(FieldErrorsMixin, forms.ModelForm):
    """
    After the model's rules, the service's (tracker/services.py, `figure_check`):
    who may make this change, what verification and override it leaves. A refusal
    is a form error, with everything typed kept, as in the staff forms and the API.
    """

    figure_user: Any = None  # set by FigureAdmin.get_form

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # ModelForm's hook after clean(): Django's, not in the stubs
        if self.errors or self.figure_user is None:
            return
        try:
            services.figure_check(figure=self.instance, user=self.figure_user)
        except ValidationError as exc:
            self.add_error(None, exc)
        except PermissionDenied as exc:
            self.add_error(None, str(exc))


class FigureAdmin(RoleAdmin):
    """
    Counts, hostility reports, departures, arrivals. Reporters see and change their
    organisation's; coordinators see all and verify or dispute any; the organisation
    and the person who entered a figure are set from the login, never typed in.
    """

    form = FigureAdminForm
    formfield_overrides = {
        models.DateTimeField: {"form_class": FigureDateTimeField, "widget": ZonedSplitDateTime},
    }
    readonly_fields: tuple[str, ...] = ("organisation", "entered_by", "created_at", "updated_at")
    list_select_related: tuple[str, ...] = ("source", "organisation")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if permissions.is_coordinator(request.user):
            return qs
        return qs.filter(organisation_id=request.user.organisation_id)  # type: ignore[union-attr]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_add_figures(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return permissions.is_staff_member(request.user)
        return permissions.can_edit_figure(request.user, obj) or permissions.is_coordinator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return permissions.is_staff_member(request.user)
        return permissions.can_edit_figure(request.user, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None and not permissions.can_edit_figure(request.user, obj):
            # A coordinator looking at another organisation's figure: verification (and override) only.
            editable = {"verification", "override_reason"}
            names = [f.name for f in self.model._meta.fields if f.editable and f.name not in editable]
            return tuple(dict.fromkeys([*names, *self.readonly_fields]))
        if not permissions.can_override_figure_rules(request.user) and hasattr(self.model, "override_reason"):
            return (*self.readonly_fields, "override_reason")
        return self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        cast(type[FigureAdminForm], form).figure_user = request.user
        field = form.base_fields.get("verification")
        if field is not None and not permissions.is_coordinator(request.user):
            allowed = set(permissions.REPORTER_VERIFICATIONS)
            if obj is not None:
                allowed.add(obj.verification)  # keep what a coordinator decided
            field.choices = [(value, label) for value, label in Verification.choices if value in allowed]
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.figure_save(figure=obj, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.figure_delete(figure=obj, user=staff_member(request))


@admin.register(Organisation)
class OrganisationAdmin(RoleAdmin):
    list_display = ("name", "acronym")
    search_fields = ("name", "acronym")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_accounts(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_accounts(request.user)

    has_add_permission = has_module_permission
    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        audit.audited_save(obj, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: Organisation) -> None:
        audit.audited_delete(obj, user=staff_member(request))


@admin.register(User)
class UserAdmin(DjangoUserAdmin, SimpleHistoryAdmin):
    list_display = ("username", "first_name", "last_name", "organisation", "role", "is_active", "last_login")
    list_filter = ("role", "organisation", "is_active")
    list_select_related = ("organisation",)
    autocomplete_fields = ("organisation",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email")}),
        (_("Role"), {"fields": ("organisation", "role", "is_active", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "organisation", "role", "password1", "password2")}),
    )
    readonly_fields = ("last_login", "date_joined")
    actions = ["reset_second_factor"]

    def get_list_display(self, request: HttpRequest) -> Any:
        return (*super().get_list_display(request), "second_factor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # One subquery, not a query per row.
        app = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_second_factor=Exists(app))

    @admin.display(boolean=True, description=_("two-factor"), ordering="has_second_factor")
    def second_factor(self, account: User) -> bool:
        return bool(getattr(account, "has_second_factor", False))

    @admin.action(description=_("Reset two-factor authentication (a lost phone): they set it up again at next login"))
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for account in queryset:
            try:
                if accounts.second_factor_remove(account=account, user=staff_member(request)):
                    done += 1
            except PermissionDenied as exc:
                self.message_user(request, f"{account}: {exc}", messages.ERROR)
        self.message_user(
            request,
            ngettext(
                "Two-factor authentication reset for %(n)d account.",
                "Two-factor authentication reset for %(n)d accounts.",
                done,
            )
            % {"n": done},
            messages.SUCCESS,
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_accounts(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_accounts(request.user)

    has_add_permission = has_module_permission
    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission


@admin.register(Source)
class SourceAdmin(RoleAdmin):
    list_display = ("name", "kind", "url")
    list_filter = ("kind",)
    search_fields = ("name", "url")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.is_staff_member(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_sources(request.user)

    has_delete_permission = has_change_permission

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        services.source_save(source=obj, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: Source) -> None:
        services.source_delete(source=obj, user=staff_member(request))


def site_position(site: Site, *, exact: bool) -> str:
    if site.restricted and not exact:
        latitude, longitude = site.public_coordinates()
        return _("about %(lat).1f, %(lon).1f (restricted)") % {"lat": latitude, "lon": longitude}
    secrecy.shown([site])
    return f"{site.latitude:.5f}, {site.longitude:.5f}"


class SiteAddForm(forms.ModelForm):
    """
    A new site: whether it is restricted is a choice whose default restricts a shelter
    (services.site_save); a coordinator who wants a shelter's position public says so
    by choosing "Not restricted".
    """

    restricted = forms.ChoiceField(
        label=_("restricted"),
        choices=[
            ("", _("As its kind says: a shelter is restricted, other sites are not")),
            ("yes", _("Restricted")),
            ("no", _("Not restricted")),
        ],
        required=False,
        help_text=Site._meta.get_field("restricted").help_text,
    )

    def clean_restricted(self) -> bool:
        self.keep_unrestricted = self.cleaned_data["restricted"] == "no"
        return self.cleaned_data["restricted"] == "yes"


@admin.register(Site)
class SiteAdmin(RoleAdmin):
    list_filter = ("kind", "restricted", "timezone")
    search_fields = ("name",)
    autocomplete_fields = ("parent",)
    list_select_related = ("parent",)
    fields = ("name", "kind", "parent", "latitude", "longitude", "timezone", "restricted")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_view_exact_location(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """
        Those who may see where the shelters are. Anyone else on the staff only picks a
        figure's site by its name (public) in the search box of the figure's form: a
        reporter needs nothing more from the sites' admin, so nothing more of it answers.
        """
        if permissions.can_view_exact_location(request.user):
            return True
        match = getattr(request, "resolver_match", None)
        return (
            obj is None
            and match is not None
            and match.url_name == "autocomplete"
            and super().has_view_permission(request)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_places(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_places(request.user)

    has_delete_permission = has_change_permission

    def get_list_display(self, request: HttpRequest) -> Any:
        exact = permissions.can_view_exact_location(request.user)

        @admin.display(description=_("position"))
        def position(site: Site) -> str:
            return site_position(site, exact=exact)

        return ("name", "kind", "parent", position, "timezone", "restricted")

    @admin.display(description=_("position"))
    def position(self, site: Site) -> str:
        """Shown instead of the coordinates to those who may not see a restricted site's."""
        return site_position(site, exact=False)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.restricted and not permissions.can_view_exact_location(request.user):
            return ("name", "kind", "parent", "position", "timezone", "restricted")
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.restricted and not permissions.can_view_exact_location(request.user):
            return ("position",)
        return ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = SiteAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Site, form: Any, change: bool) -> None:
        services.site_save(
            site=obj, user=staff_member(request), keep_unrestricted=getattr(form, "keep_unrestricted", False)
        )

    def delete_model(self, request: HttpRequest, obj: Site) -> None:
        services.site_delete(site=obj, user=staff_member(request))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        response = super().change_view(request, object_id, form_url, extra_context)
        site = self.get_object(request, object_id)
        if site is not None and permissions.can_view_exact_location(request.user):
            secrecy.shown([site])  # in the form's latitude and longitude
        return response

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        # The history diff shows earlier exact coordinates, those of when it was restricted too.
        restricted = self._ever_restricted(request, object_id)
        response = super().history_view(request, object_id, extra_context)
        if restricted is not None:
            secrecy.shown_ids([restricted])
        return response

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> Any:
        restricted = self._ever_restricted(request, object_id)
        response = super().history_form_view(request, object_id, version_id, extra_context)
        if restricted is not None:
            secrecy.shown_ids([restricted])
        return response

    def _ever_restricted(self, request: HttpRequest, object_id: str) -> int | None:
        """The site's id if it is or was restricted (its history holds exact positions); 403 if not for this user."""
        site = self.get_object(request, object_id)
        if site is None or not (site.restricted or site.history.filter(restricted=True).exists()):
            return None
        if not permissions.can_view_exact_location(request.user):
            raise PermissionDenied
        return site.pk


@admin.register(SiteAlias)
class SiteAliasAdmin(RoleAdmin):
    """
    The names and codes by which imported conflict events find a site. Coordinators
    keep them, as they keep the sites; any staff member may read them (they say no more
    of a site than its name).
    """

    list_display = ("value", "kind", "data_set", "site")
    list_filter = ("kind", "data_set")
    search_fields = ("value", "site__name")
    autocomplete_fields = ("site",)
    list_select_related = ("site",)
    fields = ("site", "kind", "value", "data_set")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_places(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_places(request.user)

    has_delete_permission = has_change_permission

    def delete_model(self, request: HttpRequest, obj: SiteAlias) -> None:
        obj.delete()


@admin.register(CivilianCount)
class CivilianCountAdmin(FigureAdmin):
    list_display = ("site", "count", "count_high", "qualifier", "as_of", "source", "verification", "organisation")
    list_filter = ("verification", "qualifier", "organisation")
    search_fields = ("site__name", "source__name")
    autocomplete_fields = ("site", "source")
    date_hierarchy = "as_of"
    list_select_related = ("site", "source", "organisation")
    fields = (
        "site",
        "as_of",
        ("count", "count_high"),
        "qualifier",
        "source",
        "reported_at",
        "verification",
        *FigureAdmin.readonly_fields,
    )


@admin.register(HostilityReport)
class HostilityReportAdmin(FigureAdmin):
    list_display = ("kind", "site", "started_at", "ended_at", "ongoing", "time_precision", "source", "verification")
    list_filter = ("kind", "verification", "time_precision", "ongoing", "organisation")
    search_fields = ("site__name", "description", "source__name")
    autocomplete_fields = ("site", "source")
    date_hierarchy = "started_at"
    list_select_related = ("site", "source", "organisation")
    fields = (
        "site",
        "kind",
        ("started_at", "ended_at"),
        "ongoing",
        "time_precision",
        "description",
        "source",
        "reported_at",
        "verification",
        *FigureAdmin.readonly_fields,
    )
    actions = ("retract",)

    def save_model(self, request: HttpRequest, obj: HostilityReport, form: Any, change: bool) -> None:
        services.hostility_report_save(report=obj, user=staff_member(request))

    def delete_model(self, request: HttpRequest, obj: HostilityReport) -> None:
        services.hostility_report_delete(report=obj, user=staff_member(request))

    @admin.action(description=_("Retract the selected reports"))
    def retract(self, request: HttpRequest, queryset: QuerySet[HostilityReport]) -> None:
        done = 0
        for report in queryset:
            report.verification = Verification.RETRACTED
            try:
                services.hostility_report_save(report=report, user=staff_member(request))
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{report}: {exc}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, _("%(n)d report(s) retracted.") % {"n": done}, messages.SUCCESS)


# An admin resets a person's second factor from the user list; nobody reads or sets
# someone else's secret or backup codes in the admin.
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ReadOnlyLogAdmin(admin.ModelAdmin):
    """A log that admins read and export, and nobody adds to, changes or deletes from."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_accounts(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_accounts(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyLogAdmin):
    """The security event log: admins read, filter and export it; nobody adds, changes or deletes a line."""

    list_display = ("at", "kind", "username", "actor", "ip_address", "path")
    list_filter = ("kind", "at")
    search_fields = ("username", "ip_address", "actor__username", "path")
    date_hierarchy = "at"
    list_select_related = ("actor",)
    fields = ("at", "kind", "account", "username", "actor", "ip_address", "user_agent", "path", "detail_text")
    readonly_fields = fields
    actions = ["export_csv"]
    list_per_page = 100

    @admin.display(description=_("detail"))
    def detail_text(self, event: SecurityEvent) -> str:
        return json.dumps(event.detail, ensure_ascii=False, sort_keys=True)

    @admin.action(description=_("Export the selected events as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[SecurityEvent]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="security-events-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(["at", "kind", "username", "account_id", "actor", "ip_address", "user_agent", "path", "detail"])
        for event in queryset.select_related("actor").order_by("at", "id").iterator(chunk_size=2000):
            row = [
                event.at.isoformat(),
                event.kind,
                event.username,
                event.account_id or "",
                event.actor.username if event.actor else "",
                event.ip_address or "",
                event.user_agent,
                event.path,
                json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
            ]
            # A user agent or a typed user name could be a spreadsheet formula: the API's CSV rule.
            writer.writerow([csv_cell(value) for value in row])
        return response


@admin.register(ExactPositionRead)
class ExactPositionReadAdmin(ReadOnlyLogAdmin):
    """
    The access log of exact positions: who read where a restricted site is, when and
    through what. Admins read, filter and export it; nobody adds, changes or deletes a line.
    """

    list_display = ("at", "username", "site_name", "through", "path", "ip_address")
    list_filter = ("through", "at")
    search_fields = ("username", "site_name", "path", "ip_address")
    date_hierarchy = "at"
    fields = ("at", "user", "username", "site", "site_name", "through", "path", "ip_address")
    readonly_fields = fields
    actions = ["export_csv"]
    list_per_page = 100

    @admin.action(description=_("Export the selected reads as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ExactPositionRead]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="exact-position-reads-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(["at", "username", "user_id", "site_id", "site_name", "through", "path", "ip_address"])
        for read in queryset.order_by("at", "id").iterator(chunk_size=2000):
            row = [
                read.at.isoformat(),
                read.username,
                read.user_id or "",
                read.site_id or "",
                read.site_name,
                read.through,
                read.path,
                read.ip_address or "",
            ]
            writer.writerow([csv_cell(value) for value in row])  # a name could be a spreadsheet formula
        return response


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """
    Read-only API keys for data users: admins issue them (the key is shown once, on
    the page after saving) and revoke them; a key is never deleted nor shown again.
    """

    list_display = ("name", "prefix", "contact", "rate", "created_at", "created_by", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "contact", "prefix")
    fields = ("name", "contact", "rate", "prefix", "created_at", "created_by", "revoked_at")
    readonly_fields = ("prefix", "created_at", "created_by", "revoked_at")
    actions = ["revoke"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_manage_accounts(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return permissions.can_manage_accounts(request.user)

    has_add_permission = has_module_permission
    has_change_permission = has_view_permission

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            obj.save()
            return
        raw = apikeys.new_secret()
        apikeys.key_set_secret(obj, raw)
        obj.created_by = cast("User", request.user)
        obj.save()
        messages.warning(
            request,
            _("The key of %(name)s, shown this once (only its hash is kept): %(key)s") % {"name": obj.name, "key": raw},
        )

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            apikeys.api_key_revoke(key=key)
