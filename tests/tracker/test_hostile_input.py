"""Input that cannot hurt: a request body or a method no endpoint expects is a 4xx, never a 500."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests import factories
from tests.api import LIST_ENDPOINTS, api, url
from tracker.api.parsers import MAX_BODY_BYTES, MAX_DEPTH, nests_deeper_than

pytestmark = pytest.mark.django_db

DEEP = "[" * 3000 + "]" * 3000  # ~6 KB: the body that made Python's json module recurse to a RecursionError


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [
        (1, 0, False),
        ("[[[[", 0, False),  # brackets inside a string do not nest
        ([], 0, True),
        ([], 1, False),
        ({"waypoints": [1, 2]}, 1, True),
        ({"waypoints": [1, 2]}, 2, False),
        ([{"a": [{"b": []}]}, []], 4, True),
        ([{"a": [{"b": []}]}, []], 5, False),
        ([[[]], {"a": {"b": {"c": {}}}}], 3, True),  # the deepest branch counts, whichever it is
    ],
)
def test_nests_deeper_than(value, limit, deeper):
    assert nests_deeper_than(value, limit) is deeper


class TestDeepJSON:
    @pytest.mark.parametrize("name", LIST_ENDPOINTS)
    @pytest.mark.parametrize("who", ["public", "dave"])
    def test_no_endpoint_answers_a_deeply_nested_body_with_a_500(self, request, name, who):
        user = None if who == "public" else request.getfixturevalue("dave")
        response = api(user).generic("POST", url(f"{name}-list"), DEEP, content_type="application/json")
        assert response.status_code in (400, 401, 403, 405), response.status_code
        if who == "dave" and name != "flag":
            assert response.status_code == 400
            assert f"more than {MAX_DEPTH} levels deep" in response.json()["detail"]

    def test_nor_a_change_of_an_object(self, dave):
        site = factories.SiteFactory()
        response = api(dave).generic("PATCH", url("site-detail", site.pk), DEEP, content_type="application/json")
        assert response.status_code == 400

    def test_nor_the_token_endpoint_which_anyone_may_call(self, public):
        response = api().generic("POST", url("token"), DEEP, content_type="application/json")
        assert response.status_code == 400
        assert "levels deep" in response.json()["detail"]

    def test_a_body_just_within_the_limit_is_read_as_usual(self, dave):
        body = {
            "name": "Helping Hands",
            "acronym": "HH",
            "x": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)),
        }
        assert nests_deeper_than(body, MAX_DEPTH - 1) and not nests_deeper_than(body, MAX_DEPTH)
        response = api(dave).post(url("organisation-list"), body, format="json")
        assert response.status_code == 201  # the unknown field is ignored, as every unknown field is

    @pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900])
    def test_a_body_deeper_than_the_limit_but_short_of_pythons_is_400(self, dave, depth):
        body = '{"name": "x", "deep": ' + "[" * depth + "]" * depth + "}"
        response = api(dave).generic("POST", url("organisation-list"), body, content_type="application/json")
        assert response.status_code == 400
        assert "levels deep" in response.json()["detail"]

    def test_a_body_larger_than_the_apis_limit_is_413(self, dave):
        body = json.dumps({"name": "Helping Hands", "acronym": "HH", "padding": "x" * MAX_BODY_BYTES})
        response = api(dave).generic("POST", url("organisation-list"), body, content_type="application/json")
        assert response.status_code == 413
        assert response.json() == {"detail": f"The request body is larger than {MAX_BODY_BYTES} bytes."}

    def test_a_body_larger_than_the_upload_limit_is_413(self, dave, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        body = json.dumps({"name": "x" * 2000})
        response = api(dave).generic("POST", url("organisation-list"), body, content_type="application/json")
        assert response.status_code == 413
        assert response.json() == {"detail": "The request body is larger than 1000 bytes."}

    def test_nan_is_not_json(self, carol):
        body = '{"name": "Mariupol", "kind": "city", "latitude": NaN, "longitude": 37.5}'
        response = api(carol).generic("POST", url("site-list"), body, content_type="application/json")
        assert response.status_code == 400


@pytest.mark.parametrize("who", ["public", "alice", "carol", "dave"])
@pytest.mark.parametrize("fmt", ["json", "csv", "geojson"])
def test_options_describes_the_sites_in_json_whatever_the_format(request, who, fmt):
    user = None if who == "public" else request.getfixturevalue(who)
    response = api(user).options(url("site-list") + f"?format={fmt}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == "Site List"


def test_a_review_note_longer_than_the_maximum_is_refused_everywhere(carol, login):
    flag = factories.FlagFactory()
    note = "x" * 1001
    message = "Ensure this value has at most 1000 characters (it has 1001)."
    response = api(carol).post(url("flag-review", flag.pk), {"status": "dismissed", "note": note}, format="json")
    assert response.json() == {"note": [message]}
    with __import__("django.utils.translation", fromlist=["override"]).override("en"):
        address = reverse("corridors:flag_review", args=[flag.pk])
    response = login(carol).post(address, {"status": "dismissed", "note": note})
    assert response.status_code == 400
    assert note in response.content.decode()  # kept as typed
    response = login(carol).post(
        reverse("admin:corridors_flag_changelist"),
        {"action": "dismiss", "_selected_action": [flag.pk], "apply": "1", "note": note},
    )
    assert message in response.content.decode()
    flag.refresh_from_db()
    assert flag.status == "open"
