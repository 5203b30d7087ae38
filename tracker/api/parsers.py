"""
The API's one way in for a request body: JSON, with limits an attacker cannot get past.

Python's json module recurses once per level of nesting: 3,000 levels of `[` (6 KB)
raised RecursionError, a 500; and a body just under the interpreter's limit parsed,
only to overflow the next recursive step (the idempotency fingerprint, a renderer).
No body of this API is more than a few levels deep: a body nested deeper than
MAX_DEPTH is a 400. The parser's own RecursionError (far deeper) is one too; what
parses is measured without recursion.

Nor is any body larger than a few kilobytes (the longest text a figure takes is
2,000 characters): one over MAX_BODY_BYTES is a 413 before it is parsed, so that
parsing and measuring cost milliseconds. (Django's DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5
MB, applies first, to every request: tracker/api/base.py turns it into the same 413.)
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status
from rest_framework.utils.json import strict_constant

# The deepest body the API takes: an object holding a list is 2.
MAX_DEPTH = 32
# The largest: a report with a 2,000-character description written as \uXXXX escapes is 12 KB.
MAX_BODY_BYTES = 256 * 1024


def nests_deeper_than(value: Any, limit: int) -> bool:
    """
    Whether arrays and objects nest more than `limit` levels deep in a parsed JSON
    value. Level by level, without recursion, each level one list comprehension.
    """
    level = [value] if isinstance(value, dict | list) else []
    for depth in range(1, limit + 2):
        if not level:
            return False
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    return False  # not reached: the loop returns by depth limit + 1


def _too_deep() -> exceptions.ParseError:
    return exceptions.ParseError(
        _("JSON parse error - the body nests arrays and objects more than %(max)d levels deep.") % {"max": MAX_DEPTH}
    )


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400) a body nested deeper than MAX_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise RequestTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": MAX_BODY_BYTES})
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        try:
            # As DRF's own: NaN and Infinity are not JSON (RFC 8259), whatever Python's json module accepts.
            value = json.loads(text, parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        # Only a body with more brackets than the limit can nest past it: the usual one is not walked.
        if text.count("[") + text.count("{") > MAX_DEPTH and nests_deeper_than(value, MAX_DEPTH):
            raise _too_deep()
        return value
