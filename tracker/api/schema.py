"""
The OpenAPI schema says everything a client needs (issue: "without asking us
anything"): besides what drf-spectacular finds by itself, every operation lists the
errors it can answer with (API.md, "Conventions"), and the headers of the
conventions: ETag, If-Match, If-None-Match, Idempotency-Key, Retry-After, Link.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'Either `{"detail": "message"}` or, for invalid input, `{"field": ["message", ...], ...}` '
        "(`non_field_errors` for what concerns several fields)."
    ),
    "additionalProperties": {},
}

ERRORS = {
    "400": "Invalid input or query parameters: the body says which field and why. Nothing was written.",
    "401": "No credentials, or a token that expired or was revoked.",
    "403": "The credentials may not do this.",
    "404": "No such object (or page).",
    "409": "Other records refer to this object, so nobody may delete it: retract, cancel or deactivate it instead.",
    "412": "If-Match no longer matches the object's ETag: it changed since it was read. Nothing was written.",
    "429": "Too many requests: wait the number of seconds in Retry-After.",
}

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    def _is_detail(self) -> bool:
        return "{" in self.path

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=(
                        "Any unique string (a UUID). Sending the same request again with the same key within a day "
                        "returns the first response (with `Idempotent-Replayed: true`) and creates nothing new."
                    ),
                )
            )
        if self.method in {"PUT", "PATCH", "DELETE"}:
            parameters.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="The ETag read with the object: the change is made only if it is still current.",
                )
            )
        if self.method == "GET" and self._is_detail():
            parameters.append(
                OpenApiParameter(
                    "If-None-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="An ETag read before: 304 with no body if the object has not changed since.",
                )
            )
        if self.method in {"GET", "PUT", "PATCH"} and self._is_detail():
            parameters.append(
                OpenApiParameter(
                    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200], description="This version's tag."
                )
            )
        if self.method == "GET" and not self._is_detail() and self._is_list_view():
            formats = [r.format for r in self.view.get_renderers()]
            parameters.append(
                OpenApiParameter(
                    "format",
                    OpenApiTypes.STR,
                    OpenApiParameter.QUERY,
                    enum=formats,
                    description="`csv`: CSV with an HXL hashtag row under the header"
                    + ("; `geojson`: a GeoJSON FeatureCollection." if "geojson" in formats else "."),
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        codes = {"429"}
        if self.method in UNSAFE:
            codes |= {"400", "401", "403"}
        if self._is_detail():
            codes.add("404")
        if self.method in {"PUT", "PATCH", "DELETE"}:
            codes.add("412")
        if self.method == "DELETE":
            codes.add("409")
        if self.method == "GET" and not self._is_detail():
            codes |= {"400", "404"}  # a bad filter or page size; a page past the end
        if self.method == "GET" and getattr(self.view, "read_requires_login", False):
            codes |= {"401", "403"}
        for code in sorted(codes):
            if code not in responses:
                responses[code] = {
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    "description": ERRORS[code],
                }
        if self.method == "GET" and self._is_detail():
            responses.setdefault("304", {"description": "Not modified since the ETag given in If-None-Match."})
        return responses
