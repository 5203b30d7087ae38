"""
The API's one way in for a request body: JSON, with limits an attacker cannot get past.

Python's json module recurses once per level of nesting: 3,000 levels of `[` (6 KB)
raise RecursionError, a 500, and anything just under the interpreter's limit parses
only to overflow the next recursive step (the idempotency fingerprint, the renderer).
No body of this API is more than a few levels deep, so the depth is measured on the
text, strings left out, before anything parses it. (A body larger than
DATA_UPLOAD_MAX_MEMORY_SIZE never gets here: Django refuses to read it, and the
API answers 413: tracker/api/base.py, `exception_handler`.)
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status
from rest_framework.utils.json import strict_constant

# The deepest body the API takes: an object holding a list is 2.
MAX_DEPTH = 32
# A JSON string (its escapes included), and everything that is not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (0 for a scalar); brackets inside strings do not count."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_DEPTH_STEP[char] for char in brackets), default=0)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400) a body nested deeper than MAX_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        if nesting_depth(text) > MAX_DEPTH:
            raise exceptions.ParseError(
                _("JSON parse error - the body nests arrays and objects more than %(max)d levels deep.")
                % {"max": MAX_DEPTH}
            )
        try:
            # As DRF's own: NaN and Infinity are not JSON (RFC 8259), whatever Python's json module accepts.
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
