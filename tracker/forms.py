"""
The staff pages' quick forms. They only read and validate what was typed; saving
goes through the services (tracker/services.py, corridors/services.py), like the
admin and the API.

Times are typed as local wall-clock times at the figure's site ("10:00 at Azovstal"
means Kyiv time there), not in the server's or the browser's zone. A time the clocks
skipped, or one they showed twice, is refused with the valid choices named
(docs/design.md "Time" rule 3); for a repeated one the form then asks which.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.utils.translation import gettext_lazy as _

from tracker.localtime import Repeated, Skipped, resolve, with_offset, zone
from tracker.models import CivilianCount, Figure, HostilityReport, Site, Source, User
from tracker.validators import RANGE_MESSAGE, in_year_range

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

INPUT_FORMAT = "%Y-%m-%dT%H:%M"
OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_offset(text: str) -> dt.timedelta | None:
    """ "+03:00" (or "+0300") as a timedelta; None for anything else."""
    match = OFFSET.match(text.strip())
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes))
    return -offset if sign == "-" else offset


def format_offset(offset: dt.timedelta | None) -> str:
    minutes = int((offset or dt.timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_to_utc(local: dt.datetime, zone_name: str, *, offset: dt.timedelta | None = None) -> dt.datetime:
    """
    A wall-clock time typed for a place, as the one UTC instant it names. A time the
    clocks skipped, or one they showed twice (unless `offset` says which), is refused
    with a message that names the valid choices: a figure's time is never guessed.
    """
    if not in_year_range(local):
        raise ValidationError(RANGE_MESSAGE, code="out_of_range")
    found = resolve(local, zone_name)
    if isinstance(found, Repeated):
        chosen = with_offset(local, offset, zone_name) if offset is not None else None
        if chosen is not None:
            return chosen
        raise ValidationError(
            _(
                "%(time)s happened twice in %(zone)s, when the clocks went back: give %(first)s (the first) "
                "or %(second)s (the second)."
            ),
            code="ambiguous",
            params={
                "time": f"{local:%Y-%m-%d %H:%M}",
                "zone": zone_name,
                "first": choice_label(found.first),
                "second": choice_label(found.second),
            },
        )
    if isinstance(found, Skipped):
        raise ValidationError(
            _(
                "%(time)s does not exist in %(zone)s: the clocks went forward from %(start)s to %(end)s. "
                "Give a time before %(start)s or from %(end)s."
            ),
            code="nonexistent",
            params={
                "time": f"{local:%Y-%m-%d %H:%M}",
                "zone": zone_name,
                "start": f"{found.start:%H:%M}",
                "end": f"{found.end:%H:%M}",
            },
        )
    return found


def local_to_utc_with_offset(local: dt.datetime, zone_name: str, offset: dt.timedelta) -> dt.datetime:
    """A wall-clock time typed with its UTC offset: refused unless the zone's clock shows it with that offset."""
    if not in_year_range(local):
        raise ValidationError(RANGE_MESSAGE, code="out_of_range")
    chosen = with_offset(local, offset, zone_name)
    if chosen is not None:
        return chosen
    # A skipped or repeated time: its own message names the choices; else the one offset the zone has then.
    unique = local_to_utc(local, zone_name)
    raise ValidationError(
        _("%(time)s is not a time in %(zone)s with the offset %(offset)s: give it without one, or with %(valid)s."),
        code="wrong_offset",
        params={
            "time": f"{local:%Y-%m-%d %H:%M}",
            "zone": zone_name,
            "offset": format_offset(offset),
            "valid": format_offset(unique.astimezone(zone(zone_name)).utcoffset()),
        },
    )


def choice_label(instant: dt.datetime) -> str:
    """One of a repeated time's two instants as a person tells them apart: "03:30 +03:00"."""
    return f"{instant:%H:%M} {format_offset(instant.utcoffset())}"


def errors_for_form(form: forms.BaseForm, error: ValidationError) -> ValidationError:
    """
    `error` with every message about a field the form does not show moved to the
    form's own errors, after that field's name ("Corridor: ..."): the rules name
    the field they are about, and a form may show only some of them.
    """
    if not hasattr(error, "error_dict"):
        return error
    kept: dict[str, list[Any]] = {}
    model = getattr(getattr(form, "_meta", None), "model", None)
    for name, errors in error.error_dict.items():
        if name == NON_FIELD_ERRORS or name in form.fields:
            kept.setdefault(name, []).extend(errors)
            continue
        label = name
        if model is not None:
            try:
                label = str(model._meta.get_field(name).verbose_name)
            except FieldDoesNotExist:
                label = name
        for message in ValidationError(errors).messages:
            kept.setdefault(NON_FIELD_ERRORS, []).append(ValidationError(f"{label[:1].upper()}{label[1:]}: {message}"))
    return ValidationError(kept)


class FieldErrorsMixin(forms.BaseForm):
    """A ModelForm that shows a model or service error about a field it does not have, instead of failing on it."""

    def add_error(self, field: str | None, error: Any) -> None:
        if field is None and isinstance(error, ValidationError):
            error = errors_for_form(self, error)
        super().add_error(field, error)


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
                local = dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - a wall-clock time; the site's zone is applied in clean()
            except ValueError:
                continue
            if not in_year_range(local):
                raise ValidationError(RANGE_MESSAGE, code="out_of_range")
            return local
        raise ValidationError(_("Enter a date and time, such as 2022-05-05 10:00."), code="invalid")

    def prepare_value(self, value: Any) -> Any:
        return value.strftime(INPUT_FORMAT) if isinstance(value, dt.datetime) else value


class SiteChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Site) -> str:
        return f"{obj.name} ({obj.parent.name})" if obj.parent is not None else obj.name


class StaffFigureForm(FieldErrorsMixin, forms.ModelForm):
    """
    A figure typed on a phone. Defaults for a new one: the time is now, and the site
    and source are those of the person's last figure of the same kind.

    Each local time `X` has a companion `X_offset`, hidden until the time typed is
    one the clocks showed twice: then it asks which of the two was meant.
    """

    # The local-time fields, and the field naming the site whose zone they are in.
    local_time_fields: ClassVar[tuple[str, ...]] = ()
    zone_field: ClassVar[str] = "site"
    # Copied from the person's last figure (of any kind, `recent`) as the new one's defaults.
    remembered_fields: ClassVar[tuple[str, ...]] = ("site", "source")
    # Where a remembered field is found on a figure of another kind: the place a person
    # reports from is a count's or a report's site and a movement's origin.
    REMEMBERED_AS: ClassVar[dict[str, tuple[str, ...]]] = {
        "site": ("site", "origin"),
        "origin": ("origin", "site"),
    }

    def __init__(self, *args: Any, user: User, now: dt.datetime, recent: Sequence[Figure] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.recent = recent
        for name, formfield in self.fields.items():
            if isinstance(formfield, forms.ModelChoiceField) and getattr(formfield.queryset, "model", None) is Site:
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
        fields = {}
        for name, formfield in self.fields.items():
            fields[name] = formfield
            if name in self.local_time_fields:
                fields[f"{name}_offset"] = forms.CharField(required=False, widget=forms.HiddenInput)
        self.fields = fields
        if not self.is_bound:
            self._set_defaults(now)

    def _remembered(self, name: str) -> Any:
        """The field's value on the newest of the person's recent figures that has it (None if none does)."""
        for figure in self.recent:
            for attribute in self.REMEMBERED_AS.get(name, (name,)):
                value = getattr(figure, attribute, None)
                if value is not None:
                    return value
        return None

    def _set_defaults(self, now: dt.datetime) -> None:
        for name in self.remembered_fields:
            value = self._remembered(name)
            if value is not None:
                self.initial.setdefault(name, value.pk)
        place = self._remembered(self.zone_field)
        zone_name = place.timezone if place is not None else settings.TIME_ZONE
        local_now = now.astimezone(zone(zone_name)).replace(tzinfo=None, second=0, microsecond=0)
        for name in self.local_time_fields:
            if self.fields[name].required:
                self.initial.setdefault(name, local_now)

    def clean(self) -> dict[str, Any]:
        data = cast("dict[str, Any]", super().clean())  # a ModelForm's clean() returns its cleaned_data
        site = data.get(self.zone_field)
        for name in self.local_time_fields:
            value = data.get(name)
            if value is None:
                continue
            if site is None:
                # The site is missing (its field says so); without its zone the time means nothing yet.
                del data[name]
                continue
            try:
                data[name] = local_to_utc(value, site.timezone, offset=parse_offset(data.get(f"{name}_offset") or ""))
            except ValidationError as exc:
                del data[name]
                self.add_error(name, exc)
                if exc.code == "ambiguous":
                    self._ask_which(name, value, site.timezone)
        return data

    def _ask_which(self, name: str, local: dt.datetime, zone_name: str) -> None:
        """Show the companion of a repeated time as a choice between its two instants."""
        found = resolve(local, zone_name)
        assert isinstance(found, Repeated)  # noqa: S101 - local_to_utc said so
        companion = self.fields[f"{name}_offset"]
        companion.label = _("Which %(time)s?") % {"time": f"{local:%H:%M}"}
        companion.widget = forms.RadioSelect(
            choices=[
                (
                    format_offset(found.first.utcoffset()),
                    _("%(time)s, the first time") % {"time": choice_label(found.first)},
                ),
                (
                    format_offset(found.second.utcoffset()),
                    _("%(time)s, the second time") % {"time": choice_label(found.second)},
                ),
            ]
        )


def local_time_field(label: StrOrPromise, *, required: bool = True) -> LocalDateTimeField:
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


class ImportForm(forms.Form):
    """The staff page's upload: a file, what it holds and how to read it (tracker/imports/)."""

    file = forms.FileField(label=_("File"), help_text=_("CSV or XLSX, with a header row."))
    resource = forms.ChoiceField(
        label=_("What it holds"),
        choices=[
            ("counts", _("Civilian counts")),
            ("hostilities", _("Hostility reports")),
            ("departures", _("Departures")),
            ("arrivals", _("Arrivals")),
            ("sites", _("Sites")),
            ("sources", _("Sources")),
        ],
    )
    format = forms.ChoiceField(
        label=_("Kind of file"),
        choices=[
            ("auto", _("A table: columns named as the API's fields, or tagged with HXL hashtags")),
            ("hxl", _("An HXL-tagged table (the hashtag row is required)")),
            ("acled", _("An ACLED export of conflict events (as hostility reports)")),
            ("ucdp", _("A UCDP GED export of conflict events (as hostility reports)")),
        ],
    )
    retract_missing = forms.BooleanField(
        label=_("This is a full export of its period: retract the events it no longer holds"),
        required=False,
        help_text=_("ACLED and UCDP only: reports of earlier imports whose events were deleted from the data set."),
    )
