"""
The rules every typed value obeys, however it comes in (the API, the staff quick
forms, the admin), stated once: the models' fields and `clean()` use them, and the
forms' and the API's fields use the same ones, so that all three give the same
error, with the same message, on the same field.

The pure checks (`normalise_name`, `has_visible_character`, `in_year_range`, ...)
take plain values; the validators wrap them in Django's ValidationError.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# Instants outside these years are typing errors (2202 for 2022), not reports; they
# also keep day- and hour-precision arithmetic far from datetime's own limits.
FIRST_YEAR, LAST_YEAR = 1900, 2199
EARLIEST = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=dt.UTC)
RANGE_MESSAGE = _("Give a time between the years 1900 and 2199.")
DATE_RANGE_MESSAGE = _("Give a date between the years 1900 and 2199.")

# Free text: long enough for what people write, short enough that one row cannot
# make every page that shows it (and its once-a-minute refresh) megabytes long.
NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
NOTE_MAX_LENGTH = 1000

# Unicode's bidirectional formatting characters: embeddings, overrides, isolates and
# the invisible marks. U+202E makes "exe.txt" read "txt.exe"; none belongs in a name
# or a report that people act on.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The control characters multi-line text may hold.
TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")


def _invisible(char: str) -> bool:
    """
    White space, or a format character (zero-width space, joiners, BOM, ...) that
    trimming may drop. Direction controls are kept, for the validators to refuse:
    one at the start of a name is there to make it read otherwise.
    """
    if char in BIDI_CONTROLS:
        return False
    return char.isspace() or unicodedata.category(char) in ("Cf", "Zs", "Zl", "Zp")


def normalise_name(value: str) -> str:
    """NFC; no invisible characters at either end; every run of white space inside as one space."""
    value = unicodedata.normalize("NFC", value)
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    return " ".join(value[start:end].split())


def has_visible_character(value: str) -> bool:
    """At least one letter, digit, punctuation mark or symbol."""
    return any(unicodedata.category(char)[0] in "LNPS" for char in value)


def bidi_controls_in(value: str) -> list[str]:
    return sorted({char for char in value if char in BIDI_CONTROLS})


def controls_in(value: str, *, allowed: frozenset[str] = frozenset()) -> list[str]:
    return sorted({char for char in value if unicodedata.category(char) == "Cc" and char not in allowed})


def in_year_range(value: dt.datetime) -> bool:
    """Whether an aware instant, or a naive wall-clock time, lies in the years FIRST_YEAR..LAST_YEAR."""
    if value.tzinfo is None:
        return FIRST_YEAR <= value.year <= LAST_YEAR
    return EARLIEST <= value < LATEST


def _code_points(chars: list[str]) -> str:
    return ", ".join(f"U+{ord(char):04X}" for char in chars)


def _refuse_controls(value: str, *, allowed: frozenset[str]) -> None:
    bidi = bidi_controls_in(value)
    if bidi:
        raise ValidationError(
            _(
                "Remove the invisible direction controls (%(chars)s): they make text display differently "
                "from what it says."
            ),
            code="bidi_control",
            params={"chars": _code_points(bidi)},
        )
    controls = controls_in(value, allowed=allowed)
    if controls:
        raise ValidationError(
            _("Remove the control characters (%(chars)s)."), code="control", params={"chars": _code_points(controls)}
        )


def validate_name(value: str) -> None:
    """A name people read on a page: no direction or control characters, and something visible."""
    _refuse_controls(value, allowed=frozenset())
    if value and not has_visible_character(normalise_name(value)):
        raise ValidationError(_("Give a name with at least one visible letter or digit."), code="invisible")


def validate_text(value: str) -> None:
    """Free text (a description, a note): lines and tabs, but no direction or other control characters."""
    _refuse_controls(value, allowed=TEXT_CONTROLS_ALLOWED)


def validate_instant(value: dt.datetime) -> None:
    if isinstance(value, dt.datetime) and not in_year_range(value):
        raise ValidationError(RANGE_MESSAGE, code="out_of_range")


def validate_date(value: dt.date) -> None:
    """A calendar date (a schedule's first day) in the same years as every instant."""
    if isinstance(value, dt.date) and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(DATE_RANGE_MESSAGE, code="out_of_range")


@deconstructible
class HttpURLValidator(URLValidator):
    """A web address people can open: http or https only (no `javascript:`, `data:`, `file:`...)."""

    # Not "invalid": a form field would put its own "Enter a valid URL." in its place.
    code = "http_url"

    def __init__(self) -> None:
        super().__init__(
            schemes=["http", "https"], message=_("Give a web address that starts with http:// or https://.")
        )


validate_http_url = HttpURLValidator()
