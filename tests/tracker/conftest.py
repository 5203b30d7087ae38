"""The REST API tests' client: `api()` is the public, `api(alice)` is alice logged in."""

from __future__ import annotations

import pytest

from tests import api as helpers


@pytest.fixture
def api(db):
    """A new APIClient (JSON by default, see REST_FRAMEWORK) per call, as the public or as a persona."""
    return helpers.api
