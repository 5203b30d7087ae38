"""
Browser reads (docs/api.md, "Reading from a browser"): a script on any site may read
the API anonymously, `GET` and `HEAD`, and nothing else: no other method and no
`Authorization` header passes a preflight, and no answer allows credentials, so a
browser neither sends a session's cookie nor shows the script what came back to one.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories
from tests.api import url

pytestmark = pytest.mark.django_db
NEWSROOM = "https://newsroom.example"


def preflight(path, method, headers=""):
    extra = {"HTTP_ORIGIN": NEWSROOM, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": method}
    if headers:
        extra["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"] = headers
    return Client().options(path, **extra)


def allowed(response, header):
    return {item.strip().upper() for item in response.get(header, "").split(",") if item.strip()}


def test_an_anonymous_read_from_any_origin_is_allowed_without_credentials():
    factories.SiteFactory(name="Azovstal")
    response = Client().get(url("site-list"), HTTP_ORIGIN=NEWSROOM)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response
    # A script can follow the pages and see the total.
    assert {"LINK", "X-TOTAL-COUNT"} <= allowed(response, "Access-Control-Expose-Headers")


def test_head_and_csv_are_allowed_too():
    assert Client().head(url("flag-list"), HTTP_ORIGIN=NEWSROOM)["Access-Control-Allow-Origin"] == "*"
    csv = Client().get(url("count-list", format="csv"), HTTP_ORIGIN="http://localhost:8888")
    assert csv["Access-Control-Allow-Origin"] == "*"


def test_a_preflight_for_get_passes():
    response = preflight(url("corridor-list"), "GET", "accept")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert allowed(response, "Access-Control-Allow-Methods") == {"GET", "HEAD", "OPTIONS"}
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_preflight_for_a_write_does_not_allow_it(method):
    response = preflight(url("count-list"), method, "content-type")
    assert method not in allowed(response, "Access-Control-Allow-Methods")
    assert "CONTENT-TYPE" not in allowed(response, "Access-Control-Allow-Headers")


def test_a_preflight_that_would_send_a_token_does_not_allow_it():
    response = preflight(url("site-list"), "GET", "authorization")
    assert "AUTHORIZATION" not in allowed(response, "Access-Control-Allow-Headers")


def test_a_logged_in_reader_gets_no_credentialed_cors(carol):
    client = Client()
    client.force_login(carol)
    response = client.get(url("site-list"), HTTP_ORIGIN=NEWSROOM)
    # A wildcard without Allow-Credentials: a browser that sent the cookie hides this answer from the script.
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("path", ["/", "/admin/login/", "/accounts/login/"])
def test_pages_outside_the_api_are_not_shared(path):
    response = Client().get(path, HTTP_ORIGIN=NEWSROOM)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight(path, "GET")
