"""
Writes to the site tree that race, as real concurrent transactions on PostgreSQL
(tests/concurrency.py). Every write that can change whether a site is restricted
(restricting one, adding one, moving one) takes the tree lock before any other lock:
they take turns, and none deadlocks another.
"""

from __future__ import annotations

import pytest

from tests import factories
from tests.api import api, url
from tests.concurrency import Holder, Side
from tracker import services
from tracker.models import Role, Site

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def erin(ngo_b):
    """A second coordinator, working at the same time as carol."""
    return factories.UserFactory(username="erin", organisation=ngo_b, role=Role.COORDINATOR)


@pytest.fixture
def plant(db):
    """Mariupol > Azovstal steel plant, neither restricted yet."""
    city = factories.SiteFactory(name="Mariupol")
    return factories.SiteFactory(name="Azovstal steel plant", kind=Site.Kind.FACILITY, parent=city)


def run_in_order(earlier: Side, later: Side) -> None:
    """`earlier` does its write and waits, locks held; `later` starts, then both finish."""
    try:
        earlier.start().wait_until_paused()
        later.start()
        later.wait_until_blocked()  # behind the tree lock (before the fix: it did not wait)
        earlier.go()
        earlier.result()
        later.go()
        later.result()
    finally:
        earlier.join()
        later.join()


@pytest.mark.parametrize("first", ["restrict", "add"])
def test_a_site_added_while_its_parent_is_restricted_is_restricted(carol, erin, plant, first):
    """The issue's race: coordinator 1 restricts the plant while coordinator 2 adds a shelter under it."""

    def restrict():
        mine = Site.objects.get(pk=plant.pk)
        mine.restricted = True
        return services.site_save(site=mine, user=carol)

    def add():
        bunker = Site(name="Bunker 3", kind=Site.Kind.SHELTER, parent=plant, latitude=47.1062, longitude=37.6138)
        return services.site_save(site=bunker, user=erin, keep_unrestricted=True)

    sides = {"restrict": Side(restrict, pause_after=True), "add": Side(add, pause_after=True)}
    run_in_order(sides[first], sides["add" if first == "restrict" else "restrict"])
    # Before the fix: unrestricted inside a restricted site, its exact position public.
    assert Site.objects.get(name="Bunker 3").restricted


@pytest.mark.parametrize("first", ["restrict", "move"])
def test_a_site_moved_while_its_new_parent_is_restricted_is_restricted(carol, erin, plant, first):
    bunker = factories.SiteFactory(name="Bunker 3", kind=Site.Kind.SHELTER, latitude=47.1062, longitude=37.6138)
    inner = factories.SiteFactory(name="Bunker 3, east room", parent=bunker)

    def restrict():
        mine = Site.objects.get(pk=plant.pk)
        mine.restricted = True
        return services.site_save(site=mine, user=carol)

    def move():
        mine = Site.objects.get(pk=bunker.pk)
        mine.parent_id = plant.pk
        return services.site_save(site=mine, user=erin)

    sides = {"restrict": Side(restrict, pause_after=True), "move": Side(move, pause_after=True)}
    run_in_order(sides[first], sides["move" if first == "restrict" else "restrict"])
    assert Site.objects.filter(pk__in=[bunker.pk, inner.pk], restricted=True).count() == 2


def test_restricting_a_site_keeps_a_change_made_meanwhile_to_a_site_inside_it(carol, erin, plant):
    """Those inside are restricted from their rows as they are once locked, not as read before."""
    bunker = factories.SiteFactory(name="Bunker 3", parent=plant)

    def rename():
        mine = Site.objects.get(pk=bunker.pk)
        mine.name = "Bunker 3 (east)"
        return services.site_save(site=mine, user=erin)

    def restrict():
        mine = Site.objects.get(pk=plant.pk)
        mine.restricted = True
        return services.site_save(site=mine, user=carol)

    run_in_order(Side(rename, pause_after=True), Side(restrict))
    bunker.refresh_from_db()
    # Before the fix the bunker was saved again as read before the rename: the rename was undone.
    assert (bunker.name, bunker.restricted) == ("Bunker 3 (east)", True)


def test_two_moves_that_would_close_a_cycle_take_turns_without_a_deadlock(carol, erin):
    """A under B and B under A, at once, through the API: one is saved, the other refused (400), never a 500."""
    a, b = factories.SiteFactory(name="Site A"), factories.SiteFactory(name="Site B")
    holder = Holder().advisory_lock(services.SITE_TREE_LOCK)  # a third site write, under way

    def move(user, site, parent):
        return lambda: api(user).patch(url("site-detail", site.pk), {"parent": parent.pk}, format="json")

    first, second = Side(move(carol, a, b), atomic=False), Side(move(erin, b, a), atomic=False)
    try:
        first.start()
        assert first.wait_until_blocked()
        second.start()
        assert second.wait_until_blocked()
        holder.release()
        # Before the fix each held its own row, then waited for the tree lock: a deadlock, a 500.
        statuses = sorted([first.result().status_code, second.result().status_code])
    finally:
        holder.close()
        first.join()
        second.join()
    assert statuses == [200, 400]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.parent_id, b.parent_id) in {(b.pk, None), (None, a.pk)}


def test_a_move_and_a_restriction_of_the_sites_below_it_take_turns_without_a_deadlock(carol, erin, plant):
    """Restricting the plant updates the bunker under it while the bunker is being moved, through the API."""
    bunker = factories.SiteFactory(name="Bunker 3", parent=plant)
    odesa = factories.SiteFactory(name="Odesa")
    holder = Holder().advisory_lock(services.SITE_TREE_LOCK)

    restricting = Side(
        lambda: api(carol).patch(url("site-detail", plant.pk), {"restricted": True}, format="json"), atomic=False
    )
    moving = Side(
        lambda: api(erin).patch(url("site-detail", bunker.pk), {"parent": odesa.pk}, format="json"), atomic=False
    )
    try:
        moving.start()
        assert moving.wait_until_blocked()
        restricting.start()
        assert restricting.wait_until_blocked()
        holder.release()
        statuses = [moving.result().status_code, restricting.result().status_code]
    finally:
        holder.close()
        moving.join()
        restricting.join()
    assert statuses == [200, 200]
    bunker.refresh_from_db()
    assert bunker.parent_id == odesa.pk
