"""
The OpenAPI schema says everything a client needs (issue: "without asking us
anything"): besides what drf-spectacular finds by itself, every operation lists the
errors it can answer with (docs/api.md, "Conventions") with their JSON body, the headers
of the conventions (ETag, If-Match, If-None-Match, Idempotency-Key, Retry-After,
Link, X-Total-Count), and what its CSV and GeoJSON bodies are.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from tracker.api.base import ReadViewSet

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'Either `{"detail": "message"}` or, for invalid input, `{"field": ["message", ...], ...}` '
        "(`non_field_errors` for what concerns several fields)."
    ),
    "additionalProperties": {},
}

ERROR_REF = "#/components/schemas/Error"

ERRORS = {
    "400": "Invalid input or query parameters (an unknown `format` too): the body says which field and why. "
    "Nothing was written.",
    "401": "No credentials, or a token that expired or was revoked.",
    "403": "The credentials may not do this.",
    "404": "No such object (or page).",
    "409": "Other records refer to this object, so nobody may delete it: retract, cancel or deactivate it instead.",
    "412": "If-Match no longer matches the object's ETag: it changed since it was read. Nothing was written.",
    "429": "Too many requests: wait the number of seconds in Retry-After.",
}

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# Every PUT, PATCH and DELETE takes If-Match and answers with an ETag (but a DELETE); an
# action that does as well (a flag's review) names them in its extend_schema(parameters=...).
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag read with the object: the change is made only if it is still current.",
)
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200], description="This version's tag."
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Data users' read-only keys (tracker/api/keys.py) in the schema's security schemes."""

    target_class = "tracker.api.keys.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A data user's read-only key, issued by an admin: `Api-Key <key>`. It reads what the "
            "public reads, under its own rate limit.",
        }


class AutoSchema(openapi.AutoSchema):
    def _is_detail(self) -> bool:
        return "{" in self.path

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        # The viewsets keep a POST's response for a retry (tracker/api/idempotency.py); the token views do not.
        if self.method == "POST" and isinstance(self.view, ReadViewSet):
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
            parameters.append(IF_MATCH)
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
            parameters.append(ETAG)
        if self.method == "GET" and not self._is_detail() and self._is_list_view():
            parameters += [
                OpenApiParameter(
                    "Link",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    response=[200],
                    description='The next and previous pages (`rel="next"`, `rel="prev"`), for every format.',
                ),
                OpenApiParameter(
                    "X-Total-Count",
                    OpenApiTypes.INT,
                    OpenApiParameter.HEADER,
                    response=[200],
                    description="How many objects the list has, over all its pages.",
                ),
            ]
            formats = [r.format for r in self.view.get_renderers()]
            parameters += [
                OpenApiParameter(
                    "format",
                    OpenApiTypes.STR,
                    OpenApiParameter.QUERY,
                    enum=formats,
                    description="`csv`: CSV with an HXL hashtag row under the header"
                    + ("; `geojson`: a GeoJSON FeatureCollection." if "geojson" in formats else "."),
                ),
                OpenApiParameter(
                    "hxl",
                    OpenApiTypes.STR,
                    OpenApiParameter.QUERY,
                    enum=["0", "1"],
                    description="With `format=csv`: `0` leaves out the HXL hashtag row (for tools that would read it "
                    "as data).",
                ),
            ]
        return parameters

    def _get_response_for_code(self, serializer: Any, status_code: str, *args: Any, **kwargs: Any) -> Any:
        response = super()._get_response_for_code(serializer, status_code, *args, **kwargs)
        # A CSV or GeoJSON body is not the JSON schema: each of those renderers says what it writes.
        content = response.get("content", {})
        for renderer in self.view.get_renderers():
            if renderer.media_type in content and hasattr(renderer, "openapi_schema"):
                content[renderer.media_type]["schema"] = renderer.openapi_schema(many=self._is_list_view(serializer))
        return response

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        codes = {"400", "429"}  # any operation: a bad `format`, filter or page size, or invalid input
        if self.view.authentication_classes:
            codes.add("401")  # any operation that reads credentials: a token that expired or was revoked
            if self.method in UNSAFE or getattr(self.view, "read_requires_login", False):
                codes.add("403")
        if self._is_detail():
            codes.add("404")
        if IF_MATCH in self.get_override_parameters():
            codes.add("412")
        if self.method == "DELETE":
            codes.add("409")
        if self.method == "GET" and not self._is_detail():
            codes.add("404")  # a page past the end
        for code in sorted(codes):
            responses.setdefault(code, {"description": ERRORS[code]})
        responses["429"].setdefault("headers", {})["Retry-After"] = {
            "schema": {"type": "integer"},
            "description": "How many seconds to wait.",
        }
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400:
                # Every error has the body of the API's errors, in JSON whatever the format asked for:
                # one shared component, so that a generated client has one error type, not one per
                # operation and status (postprocess_shared_components).
                response.setdefault("content", {"application/json": {"schema": {"$ref": ERROR_REF}}})
        if self.method == "GET" and self._is_detail():
            responses.setdefault("304", {"description": "Not modified since the ETag given in If-None-Match."})
        return responses


# The query parameters whose values are one of a few words, and the component each set
# of words is (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] as well).
PARAMETER_ENUMS = {
    frozenset({"csv", "json"}): "FormatEnum",
    frozenset({"csv", "geojson", "json"}): "GeoFormatEnum",
    frozenset({"0", "1"}): "HxlEnum",
    frozenset({"json"}): "JsonFormatEnum",
}


def postprocess_shared_components(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """
    Shared components where drf-spectacular writes a schema inline in every operation,
    so that a client generator (openapi-python-client) makes one type of each, not one
    per operation: the error body (`Error`), and each query parameter's set of words
    (`format`, `hxl`, and a filter on a status or a kind: the enum of the field it filters).
    Runs after drf-spectacular's own enum naming (postprocess_schema_enums).
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    by_values = {
        frozenset(component["enum"]): name
        for name, component in schemas.items()
        if "enum" in component and component.get("type") == "string"
    }
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query" or "enum" not in schema:
                    continue
                values = frozenset(schema["enum"])
                name = by_values.get(values) or PARAMETER_ENUMS.get(values)
                if name is None:
                    continue
                if name not in schemas:
                    schemas[name] = {"type": "string", "enum": sorted(values)}
                    by_values[values] = name
                parameter["schema"] = {"$ref": f"#/components/schemas/{name}"}
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
