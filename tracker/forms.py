"""
The staff pages' quick forms. They only read and validate what was typed; saving
goes through the services (tracker/services.py, corridors/services.py), like the
admin and the API.

Times are typed as local wall-clock times at the figure's site ("10:00 at Azovstal"
means Kyiv time there), not in the server's or the browser's zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tracker import selectors
from tracker.localtime import to_utc, zone
from tracker.models import CivilianCount, HostilityReport, Site, Source, User

INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time from a `datetime-local` input, kept naive: the form reads it in the site's zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT)
    input_formats = [INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        text = str(value).strip()
        for fmt in self.input_formats:
            try:
                return dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - a wall-clock time; the site's zone is applied in clean()
            except ValueError:
                continue
        raise ValidationError(_("Enter a date and time, such as 2022-05-05 10:00."), code="invalid")

    def prepare_value(self, value: Any) -> Any:
        return value.strftime(INPUT_FORMAT) if isinstance(value, dt.datetime) else value


class SiteChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Site) -> str:
        return f"{obj.name} ({obj.parent.name})" if obj.parent_id else obj.name


class StaffFigureForm(forms.ModelForm):
    """
    A figure typed on a phone. Defaults for a new one: the time is now, and the site
    and source are those of the person's last figure of the same kind.
    """

    # The local-time fields, and the field naming the site whose zone they are in.
    local_time_fields: ClassVar[tuple[str, ...]] = ()
    zone_field: ClassVar[str] = "site"
    # Copied from the person's last figure of this kind as the new one's defaults.
    remembered_fields: ClassVar[tuple[str, ...]] = ("site", "source")

    def __init__(self, *args: Any, user: User, now: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        for name, formfield in self.fields.items():
            if isinstance(formfield, forms.ModelChoiceField) and formfield.queryset.model is Site:
                site_field = SiteChoiceField(
                    queryset=Site.objects.select_related("parent").order_by("name", "id"),
                    required=formfield.required,
                    label=formfield.label,
                    help_text=formfield.help_text,
                )
                self.fields[name] = site_field
        if "source" in self.fields:
            self.fields["source"].queryset = Source.objects.order_by("name")  # type: ignore[attr-defined]
            self.fields["source"].help_text = _("Missing? Add it under Data entry → Sources, then come back.")
        if not self.is_bound:
            self._set_defaults(now)

    def _set_defaults(self, now: dt.datetime) -> None:
        last = selectors.last_entry(self._meta.model, self.user.pk)
        zone_name = settings.TIME_ZONE
        if last is not None:
            for name in self.remembered_fields:
                self.initial.setdefault(name, getattr(last, f"{name}_id"))
            zone_name = getattr(last, self.zone_field).timezone
        local_now = now.astimezone(zone(zone_name)).replace(tzinfo=None, second=0, microsecond=0)
        for name in self.local_time_fields:
            if self.fields[name].required:
                self.initial.setdefault(name, local_now)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        site = data.get(self.zone_field)
        for name in self.local_time_fields:
            value = data.get(name)
            if value is None:
                continue
            if site is None:
                # The site is missing (its field says so); without its zone the time means nothing yet.
                del data[name]
                continue
            data[name] = to_utc(value, site.timezone)
        return data


def local_time_field(label: str, *, required: bool = True) -> LocalDateTimeField:
    return LocalDateTimeField(
        label=label, required=required, help_text=_("Local time at the site, e.g. 2022-05-05 10:00.")
    )


class CountForm(StaffFigureForm):
    local_time_fields = ("as_of",)

    as_of = local_time_field(_("As of"))

    class Meta:
        model = CivilianCount
        fields = ("site", "count", "count_high", "qualifier", "as_of", "source")
        widgets = {
            "count": forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
            "count_high": forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
        }


class HostilityForm(StaffFigureForm):
    local_time_fields = ("started_at", "ended_at")

    started_at = local_time_field(_("Started at"))
    ended_at = local_time_field(_("Ended at"), required=False)

    class Meta:
        model = HostilityReport
        fields = ("site", "kind", "started_at", "ended_at", "ongoing", "time_precision", "description", "source")
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
