"""
The OpenAPI schema shares what every operation would otherwise repeat inline (docs/api.md,
"OpenAPI"): the error body is one component, and the words a query parameter takes
(`format`, `hxl`, a filter on a status) are enum components, so that a generated client
has one type of each instead of one per operation (openapi-python-client made 617 model
files of main's schema before, 92 after: docs/benchmarks.md).
"""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_body_is_the_shared_error_component(schema):
    assert schema["components"]["schemas"]["Error"]["type"] == "object"
    errors = 0
    for name, operation in operations(schema):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }, (
                    name,
                    code,
                )
                errors += 1
    assert errors > 100


def test_no_query_parameter_has_an_inline_enum_of_words(schema):
    # A generator makes a type of each (a `true`/`false` boolean stays a boolean).
    for name, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            inline = parameter.get("schema", {})
            assert not ("enum" in inline and inline.get("type") == "string"), (name, parameter["name"])


def test_format_and_hxl_name_their_components(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/corridors/"]["get"]["parameters"]}
    assert parameters["format"] == {"$ref": "#/components/schemas/GeoFormatEnum"}
    assert parameters["hxl"] == {"$ref": "#/components/schemas/HxlEnum"}
    flags = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/flags/"]["get"]["parameters"]}
    assert flags["status"] == {"$ref": "#/components/schemas/FlagStatusEnum"}
    assert schema["components"]["schemas"]["GeoFormatEnum"]["enum"] == ["csv", "geojson", "json"]
