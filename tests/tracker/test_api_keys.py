"""
Read-only API keys for data users (docs/api.md, "Keys for data users"): admins issue
them, only a hash is stored, a key reads what the public reads and writes nothing,
and it is throttled by its own limit (higher than the public's), not by its address.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests import factories
from tests.api import api, url
from tracker import apikeys
from tracker.models import ApiKey

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)
SHELTER = (47.123456, 37.567891)


def keyed(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def newsroom(dave):
    return apikeys.api_key_issue(name="Newsroom", contact="data@newsroom.example", user=dave)


@pytest.fixture
def low_rates(settings, monkeypatch):
    """Three requests a minute for the public, five for a key with no rate of its own (fresh cache: conftest)."""
    rates = {"anon": "3/minute", "user": "5/minute", "token": "10/minute", "api_key": "5/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)


def statuses(client, n):
    return [client.get(url("source-list")).status_code for _ in range(n)]


def test_only_a_hash_of_the_key_is_stored(newsroom):
    key, raw = newsroom
    assert raw.startswith("etk_") and len(raw) > 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert stored.digest == apikeys.digest_of(raw)
    assert raw.startswith(stored.prefix)


def test_a_key_reads_what_the_public_reads(newsroom):
    _key, raw = newsroom
    shelter = factories.SiteFactory(kind="shelter", restricted=True, latitude=SHELTER[0], longitude=SHELTER[1])
    row = keyed(raw).get(url("site-detail", shelter.pk)).json()
    assert (row["latitude"], row["longitude"]) == (47.1, 37.6)
    assert keyed(raw).get(url("user-list")).status_code == 403


def test_a_key_writes_nothing(newsroom):
    _key, raw = newsroom
    response = keyed(raw).post(url("source-list"), {"name": "A", "kind": "media", "url": "https://a.example"})
    assert response.status_code == 403


def test_an_unknown_or_revoked_key_is_refused(newsroom):
    key, raw = newsroom
    assert keyed("etk_nothing").get(url("source-list")).status_code == 401
    apikeys.api_key_revoke(key=key)
    response = keyed(raw).get(url("source-list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@time_machine.travel(NOW, tick=False)
def test_a_key_is_throttled_by_its_own_limit_not_the_publics(newsroom, low_rates):
    _key, raw = newsroom
    assert statuses(api(), 4) == [200, 200, 200, 429]  # the public, from this address
    # The same address with a key: five, the key's limit, then 429.
    assert statuses(keyed(raw), 6) == [200] * 5 + [429]


@time_machine.travel(NOW, tick=False)
def test_a_keys_own_rate_wins_and_two_keys_do_not_share_one(dave, low_rates):
    _generous, generous = apikeys.api_key_issue(name="Portal", rate="8/minute", user=dave)
    _other, other = apikeys.api_key_issue(name="Newsroom", user=dave)
    assert statuses(keyed(generous), 9) == [200] * 8 + [429]
    assert statuses(keyed(other), 5) == [200] * 5


def test_admins_issue_keys_and_see_the_key_once(login, dave):
    client = login(dave)
    response = client.post(
        reverse("admin:tracker_apikey_add"), {"name": "Portal", "contact": "", "rate": "3000/minute"}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="Portal")
    shown = [str(message) for message in response.context["messages"]]
    (raw,) = [word for text in shown for word in text.split() if word.startswith("etk_")]
    assert apikeys.digest_of(raw) == key.digest
    assert key.created_by == dave
    assert keyed(raw).get(url("source-list")).status_code == 200


def test_a_bad_rate_is_refused(login, dave):
    response = login(dave).post(reverse("admin:tracker_apikey_add"), {"name": "Portal", "rate": "lots"})
    assert response.status_code == 200  # the form again, with its error
    assert not ApiKey.objects.exists()


def test_reporters_and_coordinators_do_not_manage_keys(login, carol):
    assert login(carol).get(reverse("admin:tracker_apikey_changelist")).status_code in (302, 403)
