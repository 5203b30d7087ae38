"""Helpers for the REST API tests: what a response holds, and how many queries a list costs."""

from __future__ import annotations

import csv
import io

import hxl
from django.db import connection
from django.test.utils import CaptureQueriesContext


def ids(response) -> list[int]:
    """The ids of a JSON list response's objects, in the order given."""
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def csv_rows(response) -> list[list[str]]:
    """A CSV response as rows: the header, the HXL hashtags, then one row per object."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def list_queries(client, url: str, page_size: int) -> int:
    """How many queries one page of `url` costs with `page_size` objects on it (and that it has them)."""
    separator = "&" if "?" in url else "?"
    with CaptureQueriesContext(connection) as context:
        response = client.get(f"{url}{separator}page_size={page_size}")
    assert response.status_code == 200, response.content
    if response["Content-Type"] == "application/json":
        assert len(response.json()["results"]) == page_size
    return len(context)


def hxl_data(response) -> hxl.model.Dataset:
    """A CSV response read by libhxl, which refuses a table without a valid hashtag row."""
    assert response.status_code == 200, response.content
    return hxl.data(io.BytesIO(response.content))


def persona(request, name: str):
    """The persona fixture called `name` ("alice", ...), or None for "public"."""
    return None if name == "public" else request.getfixturevalue(name)
