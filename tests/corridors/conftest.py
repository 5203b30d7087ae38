"""The corridor the corridor API tests speak of: Azovstal → Zaporizhzhia (a module may give its own)."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal", kind="shelter")


@pytest.fixture
def zaporizhzhia(db):
    return factories.SiteFactory(name="Zaporizhzhia")


@pytest.fixture
def corridor(azovstal, zaporizhzhia):
    return factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal, destination=zaporizhzhia)
