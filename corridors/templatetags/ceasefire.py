"""How the ceasefire record and the dossier word a flag's review and a report's verification, for the public."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import formats
from django.utils.translation import gettext as _

from corridors.record import reviewer_name
from tracker.localtime import zone
from tracker.models import Verification
from tracker.wording import figure_text, span_text

register = template.Library()


@register.simple_tag
def verification_label(state: str) -> str:
    return str(Verification(state).label) if state in Verification.values else state


def review_words(flag: Any, zone_name: str) -> str:
    """
    A flag's review in words, naming the reviewer's organisation, never the person:
    "Dismissed by Helping Hands on 6 May 2022, 10:00: “…”: not counted."
    """
    by = reviewer_name(flag)
    when = (
        formats.date_format(flag.reviewed_at.astimezone(zone(zone_name)), "DATETIME_FORMAT") if flag.reviewed_at else ""
    )
    values = {"by": by or _("a coordinator"), "when": when, "note": flag.review_note}
    if flag.status == "open":
        return _("Not reviewed yet.")
    if flag.status == "acknowledged":
        text = _("Acknowledged by %(by)s on %(when)s.") % values if when else _("Acknowledged by %(by)s.") % values
        if flag.review_note:
            text += " " + _("Note: “%(note)s”.") % values
        return text
    if flag.status == "dismissed":
        if when:
            return _("Dismissed by %(by)s on %(when)s, so not counted. Reason: “%(note)s”.") % values
        return _("Dismissed by %(by)s, so not counted. Reason: “%(note)s”.") % values
    return _("Withdrawn: a later edit of the report removed the overlap.")


@register.simple_tag
def review_text(flag: Any) -> str:
    return review_words(flag, flag.window.corridor.origin.timezone)


@register.filter
def verified_at_of(dossier: Any, figure: Any) -> Any:
    return dossier.verified_at_of(figure)


@register.filter
def window_text(window: Any) -> str:
    return span_text(window.starts_at, window.ends_at, window.corridor.origin.timezone)


@register.filter
def figure_of(movement: Any) -> str:
    return figure_text(movement.count, movement.qualifier)
