"""
Model fields that carry the rules of tracker/validators.py, so that a model's
`full_clean()` (run by every write service), its admin form and its API serializer
all apply them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxLengthValidator
from django.db import models

from tracker import validators


class NameField(models.CharField):
    """
    A name people read (a site, a source, a corridor, an organisation): stored
    normalised (NFC, no invisible characters at the ends, single spaces), with no
    direction or control characters and at least one visible character.
    """

    default_validators = [validators.validate_name]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", validators.NAME_MAX_LENGTH)
        super().__init__(*args, **kwargs)

    def clean(self, value: Any, model_instance: Any) -> Any:
        # Here rather than in to_python(), which every lookup runs too: a query for a
        # name finds what is stored, while every write through full_clean() stores it normalised.
        if isinstance(value, str):
            value = validators.normalise_name(value)
        return super().clean(value, model_instance)


class FreeTextField(models.TextField):
    """
    Free text with a maximum length that the model, its forms and the API all apply
    (a TextField's `max_length` alone reaches only the forms), and no direction or
    control characters but line breaks and tabs.
    """

    def __init__(self, *args: Any, max_length: int, **kwargs: Any) -> None:
        kwargs["validators"] = [MaxLengthValidator(max_length), validators.validate_text]
        kwargs["max_length"] = max_length
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        # The validators come from the class: a migration need not repeat them.
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("validators", None)
        return name, path, args, kwargs


class HttpURLFormField(forms.URLField):
    default_validators = [validators.validate_http_url]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)


class HttpURLField(models.URLField):
    """A link people can open: http or https only, with a message that says so."""

    default_validators = [validators.validate_http_url]

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": HttpURLFormField, **kwargs})
