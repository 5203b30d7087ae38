"""Quick forms for departures and arrivals, and the flag review form. Saving goes through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.db.models import Case, Q, QuerySet, Value, When
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext_lazy as _

from corridors.models import Arrival, CorridorWindow, Departure, Flag
from corridors.templatetags.corridors import window_span
from tracker import permissions
from tracker.forms import StaffFigureForm, local_time_field
from tracker.validators import NOTE_MAX_LENGTH

# The windows a movement can be linked to: the latest ones that have opened (one that has
# not cannot have been used), those open now first, then the newest.
WINDOW_CHOICES = 60


class OfferedWindows(ModelChoiceIterator):
    def __init__(self, field: WindowChoiceField) -> None:
        super().__init__(field)
        self.queryset = field.offered


class WindowChoiceField(forms.ModelChoiceField):
    """
    Lists the windows in `offered` but takes any: one typed in by hand that has not
    opened yet is then refused with the model's own words (corridors/models.py), as in
    the API and the admin, not with "not one of the available choices".
    """

    iterator = OfferedWindows

    def __init__(self, *, offered: QuerySet[CorridorWindow], **kwargs: Any) -> None:
        self.offered = offered
        super().__init__(**kwargs)

    def label_from_instance(self, obj: CorridorWindow) -> str:
        return f"{obj.corridor.name}: {window_span(obj)}"


class MovementForm(StaffFigureForm):
    zone_field = "origin"

    # The site of this form that a window's corridor starts (origin) or ends (destination) at.
    window_end: ClassVar[str] = "origin"

    def __init__(self, *args: Any, now: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, now=now, **kwargs)
        is_open = Q(starts_at__lte=now, ends_at__gt=now, cancelled=False)
        latest = (
            CorridorWindow.objects.filter(starts_at__lte=now)
            .select_related("corridor__origin")
            .annotate(open_now=Case(When(is_open, then=Value(True)), default=Value(False)))
            .order_by("-open_now", "-starts_at", "-id")
        )
        ids = list(latest.values_list("id", flat=True)[:WINDOW_CHOICES])
        self.fields["window"] = WindowChoiceField(
            queryset=CorridorWindow.objects.select_related("corridor__origin"),
            offered=latest.filter(id__in=ids),
            required=False,
            label=_("Corridor window"),
            help_text=_("The window these people used, if known. One open now is chosen for you."),
        )
        if not self.is_bound:
            self.initial.setdefault("window", self._open_window(latest.filter(is_open)))
        if not permissions.can_override_figure_rules(self.user):
            # A coordinator's decision (tracker/services.py, figure_save): not on a reporter's form.
            del self.fields["override_reason"]

    def _open_window(self, open_now: QuerySet[CorridorWindow]) -> int | None:
        """
        The window open now: the one of a corridor at this form's remembered site if there
        is one, else the only one open (with several and none of them there, no guess).
        """
        windows = list(open_now.values_list("id", f"corridor__{self.window_end}_id")[:WINDOW_CHOICES])
        here = [pk for pk, site_id in windows if site_id == self.initial.get(self.window_end)]
        if here:
            return here[0]
        return windows[0][0] if len(windows) == 1 else None


class DepartureForm(MovementForm):
    local_time_fields = ("departed_at",)
    remembered_fields = ("origin", "source")

    departed_at = local_time_field(_("Left at"))

    class Meta:
        model = Departure
        fields = ("origin", "window", "departed_at", "count", "qualifier", "source", "override_reason")
        widgets = {
            "count": forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
            "override_reason": forms.Textarea(attrs={"rows": 2}),
        }


class ArrivalForm(MovementForm):
    local_time_fields = ("arrived_at",)
    zone_field = "destination"
    remembered_fields = ("origin", "destination", "source")
    window_end = "destination"

    arrived_at = local_time_field(_("Arrived at"))

    class Meta:
        model = Arrival
        fields = ("origin", "destination", "window", "arrived_at", "count", "qualifier", "source", "override_reason")
        widgets = {
            "count": forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
            "override_reason": forms.Textarea(attrs={"rows": 2}),
        }


class FlagReviewForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(Flag.Status.ACKNOWLEDGED, _("Acknowledge")), (Flag.Status.DISMISSED, _("Dismiss"))]
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to dismiss: say why the flag does not hold."),
    )


class DossierCheckForm(forms.Form):
    """A dossier's digest as printed on it, or the dossier's PDF (its digest is read from it)."""

    digest = forms.CharField(label=_("Digest"), max_length=200, required=False)
    pdf = forms.FileField(label=_("or the dossier's PDF"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("digest", "").strip() and not data.get("pdf"):
            raise forms.ValidationError(_("Give the digest printed on the dossier, or its PDF."))
        return data
