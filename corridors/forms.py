"""Quick forms for departures and arrivals, and the flag review form. Saving goes through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from corridors.models import Arrival, CorridorWindow, Departure, Flag
from tracker import permissions
from tracker.forms import StaffFigureForm, local_time_field
from tracker.templatetags.dashboard import window_span
from tracker.validators import NOTE_MAX_LENGTH

# The windows a movement can be linked to: the latest ones, newest first.
WINDOW_CHOICES = 60


class WindowChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: CorridorWindow) -> str:
        return f"{obj.corridor.name}: {window_span(obj)}"


class MovementForm(StaffFigureForm):
    zone_field = "origin"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        latest = CorridorWindow.objects.select_related("corridor__origin").order_by("-starts_at", "-id")
        ids = list(latest.values_list("id", flat=True)[:WINDOW_CHOICES])
        self.fields["window"] = WindowChoiceField(
            queryset=latest.filter(id__in=ids),
            required=False,
            label=_("Corridor window"),
            help_text=_("The window these people used, if known."),
        )
        if not permissions.can_override_figure_rules(self.user):
            # A coordinator's decision (tracker/services.py, figure_save): not on a reporter's form.
            del self.fields["override_reason"]


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
