"""
The API's other formats: `?format=csv` on every list (and detail) and
`sites/?format=geojson`. Both render what the JSON would say, from the same
serializers, so a restricted site's position is coarsened in them exactly as in JSON.
Errors are JSON in every format (tracker/api/base.py, `exception_handler`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from rest_framework import renderers, serializers
from rest_framework.utils.encoders import JSONEncoder

# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _rows(data: Any) -> tuple[list[dict[str, Any]], bool]:
    """The objects in a response body, and whether it is a single one (a detail, not a list)."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"], False
    if isinstance(data, list):
        return data, False
    return [data], True


def _columns(serializer: serializers.Serializer, prefix: str = "") -> Iterator[str]:
    """Column names of a serializer's readable fields; a nested serializer's fields become `outer.inner`."""
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if isinstance(field, serializers.Serializer):
            yield from _columns(field, prefix=f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _lookup(row: dict[str, Any], column: str) -> Any:
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: lists joined with `;`, booleans as true/false, text safe from formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(str(item) for item in value)
    if isinstance(value, dict):
        value = json.dumps(value, cls=JSONEncoder, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def with_hxl(request: Any) -> bool:
    """
    Whether a CSV carries its row of HXL hashtags: yes, unless the request says
    `?hxl=0` (or `false`) for a tool that would read that row as data.
    """
    params = getattr(request, "query_params", None) or getattr(request, "GET", None) or {}
    return params.get("hxl", "1").strip().lower() not in ("0", "false", "no")


class CSVRenderer(renderers.BaseRenderer):
    """
    CSV with a header row and, beneath it, a row of HXL hashtags (hxlstandard.org),
    so that humanitarian data tools know what each column holds (`?hxl=0` leaves that
    row out). The columns are the JSON fields, in the same order; a list's pagination
    is in the `Link` header.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:  # a 304 or 204: no body
            return b""
        context = renderer_context or {}
        view, response = context.get("view"), context.get("response")
        rows, single = _rows(data)
        if view is not None and hasattr(view, "get_serializer"):
            columns = list(_columns(view.get_serializer()))
            tags = getattr(view, "hxl_tags", {})
        else:
            columns = list(dict.fromkeys(key for row in rows if isinstance(row, dict) for key in row))
            tags = {}
        if response is not None and not single:
            response["Content-Disposition"] = f'inline; filename="{getattr(view, "basename", "data")}.csv"'
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        if with_hxl(context.get("request")):
            writer.writerow([tags.get(column, "") for column in columns])
        for row in rows:
            writer.writerow([csv_cell(_lookup(row, column)) for column in columns])
        return out.getvalue().encode(self.charset)

    def openapi_schema(self, *, many: bool) -> dict[str, Any]:
        """What the OpenAPI schema says of a CSV body (tracker/api/schema.py)."""
        return {
            "type": "string",
            "description": "CSV: a header row (the JSON fields; a nested object's as `outer.inner`), a row of HXL "
            "hashtags (left out with `hxl=0`), then a row per object.",
        }


def flat_properties(row: dict[str, Any]) -> dict[str, Any]:
    """
    A representation as GeoJSON properties that GIS tools read as columns (QGIS, OGR):
    a list becomes text joined with `;` (as in CSV), a nested object's fields become
    `outer.inner`; numbers, text, booleans and nulls stay themselves.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for inner, item in flat_properties(value).items():
                flat[f"{key}.{inner}"] = item
        elif isinstance(value, list):
            flat[key] = ";".join(str(item) for item in value)
        else:
            flat[key] = value
    return flat


class GeoJSONRenderer(renderers.BaseRenderer):
    """
    A list as a GeoJSON FeatureCollection (RFC 7946), [longitude, latitude] at the
    position the reader may see. Sites are a Point each, their other fields as
    properties; a view with `geojson_features(rows)` (corridors, hostility reports)
    makes its own features. The page's `count`, `next` and `previous` ride along as
    foreign members.
    """

    media_type = "application/geo+json"
    format = "geojson"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:  # a 304 or 204: no body
            return b""
        rows, single = _rows(data)
        make = getattr((renderer_context or {}).get("view"), "geojson_features", None)
        features = make(rows) if make is not None else [self.feature(row) for row in rows]
        if single:
            body: dict[str, Any] = features[0]
        else:
            body = {"type": "FeatureCollection", "features": features}
            for member in ("count", "next", "previous"):
                if isinstance(data, dict) and member in data:
                    body[member] = data[member]
        return json.dumps(body, cls=JSONEncoder, ensure_ascii=False).encode()

    def openapi_schema(self, *, many: bool) -> dict[str, Any]:
        """What the OpenAPI schema says of a GeoJSON body (tracker/api/schema.py): a Feature, or a page of them."""
        position: dict[str, Any] = {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
            "description": "[longitude, latitude], as the reader may see them.",
        }
        point = {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {"type": {"type": "string", "enum": ["Point"]}, "coordinates": position},
        }
        line = {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"type": "string", "enum": ["LineString"]},
                "coordinates": {"type": "array", "items": position, "minItems": 2},
            },
        }
        feature = {
            "type": "object",
            "required": ["type", "id", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "integer"},
                "geometry": {
                    "type": "object",
                    "description": "A Point (sites, hostility reports: [longitude, latitude]) or a LineString "
                    "(corridors: origin, waypoints, destination), as the reader may see the positions.",
                    "oneOf": [point, line],
                },
                "properties": {"type": "object", "description": "The other fields of the JSON representation."},
            },
        }
        if not many:
            return feature
        return {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": feature},
                "count": {"type": "integer"},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    @staticmethod
    def feature(row: dict[str, Any]) -> dict[str, Any]:
        properties = {key: value for key, value in row.items() if key not in ("latitude", "longitude")}
        return {
            "type": "Feature",
            "id": row.get("id"),
            "geometry": {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
            "properties": properties,
        }
