"""
Helpers for the REST API tests (docs/api.md): a client per persona, the URLs of
the resources, and the few readings every API test makes (ids of a list, CSV + HXL,
the queries a page costs).
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import hxl
import hxl.input
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

# The resources of docs/api.md, by the basename their routes are registered under.
LIST_ENDPOINTS = (
    "organisation",
    "user",
    "source",
    "site",
    "count",
    "corridor",
    "window",
    "hostility",
    "departure",
    "arrival",
    "flag",
)


def api(user: Any = None) -> APIClient:
    """A client that speaks JSON, logged in as `user` (the public when None)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(name: str, *args: Any, **query: Any) -> str:
    """`url("window-list", corridor=3)` → `/api/v1/windows/?corridor=3`."""
    path = reverse(f"api:{name}", args=args)
    return f"{path}?{urlencode(query)}" if query else path


def ids(response: Any) -> list[int]:
    """The ids of a JSON list response's page, in order."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    return [row["id"] for row in response.json()["results"]]


def walk(client: APIClient, first: str) -> list[dict[str, Any]]:
    """Every row of a list, following `next` from page to page."""
    rows: list[dict[str, Any]] = []
    next_url: str | None = first
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, (response.status_code, response.content[:500])
        body = response.json()
        rows.extend(body["results"])
        next_url = body["next"]
    return rows


def csv_rows(response: Any) -> list[list[str]]:
    """A CSV response as rows: the header, the HXL hashtags, then one row per object."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def hxl_dataset(content: bytes) -> hxl.model.Dataset:
    """Parse a CSV body with libhxl, as a humanitarian data tool would (it refuses a table without a hashtag row)."""
    return hxl.data(hxl.input.make_input(io.BytesIO(content)))


def hxl_data(response: Any) -> hxl.model.Dataset:
    assert response.status_code == 200, response.content
    return hxl_dataset(response.content)


def list_queries(client: APIClient, url: str, page_size: int) -> int:
    """How many queries one page of `url` costs with `page_size` objects on it (and that it has them)."""
    separator = "&" if "?" in url else "?"
    with CaptureQueriesContext(connection) as context:
        response = client.get(f"{url}{separator}page_size={page_size}")
    assert response.status_code == 200, response.content
    if response["Content-Type"] == "application/json":
        assert len(response.json()["results"]) == page_size
    return len(context)


def persona(request: Any, name: str) -> Any:
    """The persona fixture called `name` (alice, bob, carol, dave), or None for the public."""
    return None if name == "public" else request.getfixturevalue(name)
