"""
Which sites are restricted: a site inside a restricted one always is (the services
keep it so; a periodic check repairs any breach and says so loudly).
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from tests import factories
from tracker import services, tasks
from tracker.models import SecurityEvent, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant(db):
    """Mariupol > Azovstal steel plant (restricted) > Bunker 3 > its east room, restricted as they should be."""
    city = factories.SiteFactory(name="Mariupol")
    plant = factories.SiteFactory(name="Azovstal steel plant", parent=city, restricted=True)
    bunker = factories.SiteFactory(name="Bunker 3", parent=plant, restricted=True)
    factories.SiteFactory(name="Bunker 3, east room", parent=bunker, restricted=True)
    return plant


class TestTheRestrictionCheck:
    def test_it_restricts_every_site_left_unrestricted_inside_a_restricted_one(self, plant, caplog):
        # Written around the services (a bug, a raw UPDATE): two levels left public.
        Site.objects.filter(name__startswith="Bunker 3").update(restricted=False)
        with caplog.at_level(logging.ERROR, logger="tracker.security"):
            assert tasks.repair_site_restrictions.delay().get() == 2
        assert set(Site.objects.filter(restricted=False).values_list("name", flat=True)) == {"Mariupol"}
        assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelno == logging.ERROR] == [
            f"event=restriction_repaired site={Site.objects.get(name=name).pk} inside={plant.pk}"
            for name in ("Bunker 3", "Bunker 3, east room")
        ]
        events = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.RESTRICTION_REPAIRED).order_by("id")
        assert [e.detail["name"] for e in events] == ["Bunker 3", "Bunker 3, east room"]
        assert {e.detail["inside"] for e in events} == {plant.pk}

    def test_it_changes_nothing_when_the_rule_holds(self, plant, caplog):
        with caplog.at_level(logging.ERROR, logger="tracker.security"):
            assert services.site_restrictions_repair() == []
        assert not caplog.records
        assert not SecurityEvent.objects.exists()

    def test_it_runs_in_beat(self):
        entry = next(
            e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "tracker.repair_site_restrictions"
        )
        assert entry["schedule"] == settings.SITE_RESTRICTION_CHECK_INTERVAL
