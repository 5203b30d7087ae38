"""The REST API tests' client: `api()` is the public, `api(alice)` is alice logged in."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture
def api(db):
    """
    A new APIClient (JSON by default, see REST_FRAMEWORK) per call, as the public or as
    a persona. The throttles count requests in the cache: each test starts with none.
    """
    cache.clear()

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    yield client_for
    cache.clear()
