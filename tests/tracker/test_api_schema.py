"""
The API keeps the promises of its own schema. Schemathesis reads the schema the app
serves at /api/v1/schema/ and sends every operation valid and invalid requests, as the
public and as an admin; whatever it sends, the answer is never a 5xx, its status code
is documented, its content type is documented, its documented headers are valid, and
its body is valid against the documented schema.

All of it runs against the demo scenario, loaded once for the module in a transaction
that is rolled back at the end; each request runs in a savepoint of its own that is
rolled back after it, so every example starts from the same world (a DELETE or a
revoked token does not leak into the next one) and Hypothesis can replay any of them.

With HYPOTHESIS_PROFILE=ci (as CI runs it): Schemathesis' coverage phase, then 50
generated requests per operation and persona; with the dev profile, just 10.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import re
import types

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, models, transaction
from django.test import TestCase
from hypothesis import settings
from hypothesis import strategies as st
from knox.models import AuthToken
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from corridors.models import AlertSubscription, Corridor, CorridorWindow, Flag, HostilityReport, Webhook
from corridors.webhooks import new_secret
from tests import factories
from tracker.api.urls import router
from tracker.celery import app as celery_app
from tracker.models import Organisation, Role, Site, Source
from tracker.wsgi import application

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

IN_CI = settings.get_current_profile_name() == "ci"

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
if not IN_CI:
    # A quick look locally: a few generated requests per operation. CI adds the coverage
    # phase (boundary values, every enum value, missing and malformed parameters, other methods).
    schema.config.phases.update(phases=["examples", "fuzzing"])

# Half of the ids, references and instants Schemathesis generates are swapped for ones
# that mean something in the world: the id of an object that exists, an instant in the
# days of its corridor windows. Otherwise nearly every id is unknown and every write is
# refused, and the code behind a found object or an accepted write is never reached.
PATH_MODELS = {prefix: viewset.queryset.model for prefix, viewset, _ in router.registry if viewset.queryset is not None}
REFERENCE_MODELS = {
    **dict.fromkeys(["site", "parent", "origin", "destination", "waypoints"], Site),
    **dict.fromkeys(["source", "announced_by"], Source),
    "organisation": Organisation,
    "corridor": Corridor,
    "window": CorridorWindow,
    "hostility": HostilityReport,
}
INSTANT_FIELDS = {"as_of", "since", "until", "updated_since", "reported_at", "announced_at"} | {
    f"{verb}_at" for verb in ("starts", "ends", "started", "ended", "departed", "arrived")
}
MAY_2022 = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)
WORLD_INSTANTS = st.integers(0, 10 * 24 * 3600).map(
    lambda seconds: (MAY_2022 + dt.timedelta(seconds=seconds)).isoformat()
)
# The ids of the world's objects, by model (`world` fills it in).
EXISTING: dict[type[models.Model], st.SearchStrategy[int]] = {}


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _or_world(value: object, model: type[models.Model] | None, instant: bool = False) -> st.SearchStrategy:
    """`value` as generated or, as often, one of the world's when it is an id, a list of ids or an instant."""
    if model is not None and _is_id(value):
        return st.one_of(st.just(value), EXISTING[model])
    if model is not None and isinstance(value, list) and all(_is_id(item) for item in value):
        return st.one_of(st.just(value), st.lists(EXISTING[model], max_size=3))
    if instant and isinstance(value, str):
        return st.one_of(st.just(value), WORLD_INSTANTS)
    return st.just(value)


def _fields_of_the_world(data: object) -> st.SearchStrategy:
    if not isinstance(data, dict):
        return st.just(data)
    return st.fixed_dictionaries(
        {name: _or_world(value, REFERENCE_MODELS.get(name), name in INSTANT_FIELDS) for name, value in data.items()}
    )


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    model = PATH_MODELS.get(context.operation.path.removeprefix("/api/v1/").split("/")[0])
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    return st.fixed_dictionaries({name: _or_world(value, model) for name, value in path_parameters.items()})


@schema.hook
def flatmap_query(context, query):
    return _fields_of_the_world(query)


@schema.hook
def flatmap_body(context, body):
    return _fields_of_the_world(body)


def test_every_enum_of_the_schema_has_a_readable_name_of_its_own():
    """
    Each is named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (or is drf-spectacular's
    NullEnum or BlankEnum), never a generated `Kind7aeEnum`; one name per set of values.
    """
    components = schema.raw_schema["components"]["schemas"]
    enums = {name: component["enum"] for name, component in components.items() if "enum" in component}
    named = {*django_settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"], "NullEnum", "BlankEnum"}
    assert set(enums) <= named, set(enums) - named
    assert all(re.fullmatch(r"(?:[A-Z][a-z]+)+Enum", name) for name in enums), list(enums)
    value_sets = [frozenset(values) for values in enums.values()]
    assert len(set(value_sets)) == len(value_sets)


# --- What the first runs found, pinned down ---------------------------------------


def test_a_method_a_route_does_not_have_is_a_405_not_a_500(client, dave):
    # The views' `delete(instance)` hook was taken for the DELETE handler of every route without one.
    client.force_login(dave)
    assert client.delete("/api/v1/sites/").status_code == 405
    assert client.delete("/api/v1/corridors/1/schedule/").status_code == 405


def test_an_error_is_json_whatever_format_was_asked_for(client):
    response = client.get("/api/v1/sites/?format=csv&kind=castle")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"kind"}


def test_an_unknown_format_is_a_400_like_any_unknown_choice(client):
    response = client.get("/api/v1/sites/?format=xml")
    assert response.status_code == 400
    assert response.json() == {"format": ["Give one of: json, csv, geojson."]}


def test_an_address_under_the_api_that_no_route_takes_is_a_json_404(client):
    response = client.get("/api/v1/sites/1.5e-08/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_bad_token_is_a_401_even_where_reading_is_public_and_the_schema_says_so(client):
    assert client.get("/api/v1/sites/", HTTP_AUTHORIZATION="Token not-a-token").status_code == 401
    assert "401" in schema.raw_schema["paths"]["/api/v1/sites/"]["get"]["responses"]


def test_not_modified_has_no_body_in_any_format(client):
    site = factories.SiteFactory()
    for format in ("json", "csv", "geojson"):
        url = f"/api/v1/sites/{site.pk}/?format={format}"
        response = client.get(url, HTTP_IF_NONE_MATCH=client.get(url)["ETag"])
        assert (response.status_code, response.content) == (304, b""), format


def test_a_schedule_answers_with_the_plain_list_of_the_windows_it_made(client, carol):
    corridor = factories.CorridorFactory()
    client.force_login(carol)
    response = client.post(
        f"/api/v1/corridors/{corridor.pk}/schedule/",
        {"local_start": "08:00", "local_end": "18:00", "first_date": "2022-05-05", "days": 2},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert len(response.json()) == 2
    operation = schema.raw_schema["paths"]["/api/v1/corridors/{id}/schedule/"]["post"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["type"] == "array"
    assert {parameter["name"] for parameter in operation["parameters"]} == {"id", "format", "Idempotency-Key"}


# --- Every operation, whatever it is sent -----------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """
    The demo scenario (a restricted site, a corridor with three windows, counts from two
    sources, departures, arrivals, hostility reports and the flags they raise) and the
    personas, written once in a transaction that the module's end rolls back.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        # Flag checks run in-process, as tests/conftest.py has it for each test (this runs before).
        eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, True
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                call_command("load_demo", stdout=io.StringIO())
        finally:
            celery_app.conf.task_always_eager = eager
        assert Flag.objects.exists()
        ngo_a = factories.OrganisationFactory(name="Helping Hands", acronym="HH")
        factories.UserFactory(username="alice", organisation=ngo_a, role=Role.REPORTER)
        factories.UserFactory(username="carol", organisation=ngo_a, role=Role.COORDINATOR)
        dave = factories.UserFactory(username="dave", organisation=None, role=Role.ADMIN)
        _, token = AuthToken.objects.create(user=dave)
        Webhook.objects.create(owner=dave, url="https://example.org/hook", events=["flag.raised"], secret=new_secret())
        AlertSubscription.objects.create(user=dave)
        for model in {*PATH_MODELS.values(), *REFERENCE_MODELS.values()}:
            EXISTING[model] = st.sampled_from(list(model._default_manager.values_list("pk", flat=True)))
        yield types.SimpleNamespace(admin_token=token)
        transaction.set_rollback(True)


@pytest.fixture(scope="module", params=["anonymous", "admin"])
def persona(request, world, _connection_kept_open, _generous_throttles):
    """The headers of a request by the public, or by an admin (dave) with a token."""
    # The WSGI client hands over the body as the app sent it: nothing gzipped to undo.
    headers = {"Accept-Encoding": "identity"}
    if request.param == "admin":
        headers["Authorization"] = f"Token {world.admin_token}"
    return headers


@pytest.fixture(scope="module")
def _connection_kept_open():
    """
    The app runs in this thread, on the test's database connection: as Django's test
    client does, keep the end of each request from closing it (and the module's
    transaction with it).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def _generous_throttles():
    """Thousands of requests in a few minutes are this test, not an attack."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SimpleRateThrottle, "THROTTLE_RATES", collections.defaultdict(lambda: "1000000/minute"))
        yield


@schema.parametrize()
@settings(max_examples=50 if IN_CI else 10)
def test_the_api_keeps_its_schema(case, persona):
    with transaction.atomic():
        # Flag checks run as the embedded mode runs them: once the request's writes are in.
        with TestCase.captureOnCommitCallbacks(execute=True):
            case.call_and_validate(headers=persona, checks=CHECKS)
        transaction.set_rollback(True)
