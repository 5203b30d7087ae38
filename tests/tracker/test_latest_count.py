"""
Each site's latest count (tracker.models.LatestCount), kept by the services in the
transaction that writes the counts: always what ranking every count would give,
whatever the services did and however their transactions interleave.
"""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections, connection

from tests import factories
from tracker import selectors, services
from tracker.models import CivilianCount, LatestCount, Verification

UTC = dt.UTC
DAY = dt.datetime(2022, 5, 4, tzinfo=UTC)


def kept() -> dict[int, tuple[int, int, dt.datetime]]:
    return {row.site_id: (row.civilian_count_id, row.count, row.as_of) for row in LatestCount.objects.all()}


def ranked() -> dict[int, tuple[int, int, dt.datetime]]:
    """The oracle: each site's latest count that is not retracted, ranked from every count."""
    best: dict[int, CivilianCount] = {}
    for count in CivilianCount.objects.exclude(verification=Verification.RETRACTED):
        top = best.get(count.site_id)
        if top is None or (count.as_of, count.pk) > (top.as_of, top.pk):
            best[count.site_id] = count
    return {site: (c.pk, c.count, c.as_of) for site, c in best.items()}


def new_count(site, *, hours: float = 0, count: int = 100, source=None) -> CivilianCount:
    return CivilianCount(
        site=site,
        source=source or factories.SourceFactory(name="Mayor"),
        as_of=DAY + dt.timedelta(hours=hours),
        count=count,
        qualifier="approximately",
    )


@pytest.mark.django_db
class TestServicesKeepIt:
    def test_a_new_count_becomes_the_latest_and_an_older_one_does_not(self, alice):
        site = factories.SiteFactory()
        first = services.figure_save(figure=new_count(site, hours=5, count=120), user=alice)
        assert kept() == {site.pk: (first.pk, 120, first.as_of)}
        services.figure_save(figure=new_count(site, hours=1, count=90), user=alice)
        assert kept() == {site.pk: (first.pk, 120, first.as_of)}

    def test_an_edit_of_the_figure_or_its_time_follows(self, alice):
        site = factories.SiteFactory()
        older = services.figure_save(figure=new_count(site, hours=1, count=90), user=alice)
        newer = services.figure_save(figure=new_count(site, hours=5, count=120), user=alice)
        newer.count = 130
        services.figure_save(figure=newer, user=alice)
        assert kept()[site.pk] == (newer.pk, 130, newer.as_of)
        newer.as_of = DAY - dt.timedelta(days=1)
        services.figure_save(figure=newer, user=alice)
        assert kept()[site.pk] == (older.pk, 90, older.as_of)

    def test_a_retracted_count_is_not_the_latest_and_the_one_before_it_is(self, alice):
        site = factories.SiteFactory()
        older = services.figure_save(figure=new_count(site, hours=1, count=90), user=alice)
        newer = services.figure_save(figure=new_count(site, hours=5, count=999), user=alice)
        newer.verification = Verification.RETRACTED
        services.figure_save(figure=newer, user=alice)
        assert kept() == {site.pk: (older.pk, 90, older.as_of)}
        older.verification = Verification.RETRACTED
        services.figure_save(figure=older, user=alice)
        assert kept() == {}

    def test_a_deleted_count_gives_way_to_the_one_before_it(self, alice):
        site = factories.SiteFactory()
        older = services.figure_save(figure=new_count(site, hours=1, count=90), user=alice)
        newer = services.figure_save(figure=new_count(site, hours=5, count=120), user=alice)
        services.figure_delete(figure=newer, user=alice)
        assert kept() == {site.pk: (older.pk, 90, older.as_of)}
        services.figure_delete(figure=older, user=alice)
        assert kept() == {}

    def test_a_count_moved_to_another_site_leaves_the_first_and_joins_the_second(self, alice):
        here, there = factories.SiteFactory(), factories.SiteFactory()
        stays = services.figure_save(figure=new_count(here, hours=1, count=90), user=alice)
        moved = services.figure_save(figure=new_count(here, hours=5, count=120), user=alice)
        moved.site = there
        services.figure_save(figure=moved, user=alice)
        assert kept() == {here.pk: (stays.pk, 90, stays.as_of), there.pk: (moved.pk, 120, moved.as_of)}

    def test_a_refused_write_leaves_it_as_it_was(self, alice, bob):
        site = factories.SiteFactory()
        count = services.figure_save(figure=new_count(site, count=90), user=alice)
        count.count = 5
        with pytest.raises(PermissionDenied):
            services.figure_save(figure=count, user=bob)
        assert kept() == {site.pk: (count.pk, 90, count.as_of)}

    @pytest.mark.parametrize("seed", range(5))
    def test_any_sequence_of_writes_keeps_what_ranking_every_count_gives(self, alice, seed):
        """Random creations, edits (figure, time, site, verification) and deletions, checked after each one."""
        rng = random.Random(seed)
        sites = [factories.SiteFactory() for _ in range(3)]
        sources = [factories.SourceFactory(name=f"Source {i}") for i in range(2)]
        counts: list[CivilianCount] = []
        for _ in range(40):
            action = rng.choice(["create", "create", "edit", "delete"]) if counts else "create"
            if action == "create":
                count = new_count(
                    rng.choice(sites), hours=rng.randrange(6), count=rng.randrange(500), source=rng.choice(sources)
                )
                counts.append(services.figure_save(figure=count, user=alice))
            elif action == "delete":
                services.figure_delete(figure=counts.pop(rng.randrange(len(counts))), user=alice)
            else:
                count = rng.choice(counts)
                field = rng.choice(["count", "as_of", "site", "verification"])
                if field == "count":
                    count.count = rng.randrange(500)
                elif field == "as_of":
                    count.as_of = DAY + dt.timedelta(hours=rng.randrange(6))  # ties with others on purpose
                elif field == "site":
                    count.site = rng.choice(sites)
                else:
                    count.verification = rng.choice([Verification.UNVERIFIED, Verification.RETRACTED])
                services.figure_save(figure=count, user=alice)
            assert kept() == ranked()

    def test_rebuilding_it_from_scratch_gives_the_same(self, alice):
        sites = [factories.SiteFactory() for _ in range(3)]
        for i in range(9):
            services.figure_save(figure=new_count(sites[i % 3], hours=i, count=i), user=alice)
        before = kept()
        assert set(selectors.latest_count_rows()) == {(site, *row) for site, row in before.items()}
        LatestCount.objects.all().delete()
        assert services.site_latest_counts_rebuild() == 3
        assert kept() == before == ranked()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestConcurrentWrites:
    """Real transactions on their own connections, started together at a barrier."""

    def run_together(self, *writes) -> None:
        barrier = threading.Barrier(len(writes))
        errors: list[BaseException] = []

        def run(write) -> None:
            try:
                barrier.wait(timeout=30)
                write()
            except BaseException as exc:  # reported by the test, in the main thread
                errors.append(exc)
            finally:
                close_old_connections()
                connection.close()

        threads = [threading.Thread(target=run, args=(write,)) for write in writes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors

    def test_counts_written_at_once_to_one_site_keep_the_latest(self, alice):
        site = factories.SiteFactory()
        source = factories.SourceFactory(name="Mayor")
        for round_ in range(15):
            # Later counts first: without the lock, the one that commits last wins, and it is often an older one.
            hours = [round_ * 10 + h for h in (4, 3, 2, 1)]
            writes = [
                lambda h=h: services.figure_save(figure=new_count(site, hours=h, count=h, source=source), user=alice)
                for h in hours
            ]
            self.run_together(*writes)
            assert kept() == ranked(), f"round {round_}"
            assert kept()[site.pk][1] == max(hours)

    def test_a_retraction_and_a_new_count_at_once_keep_the_latest(self, alice):
        site = factories.SiteFactory()
        source = factories.SourceFactory(name="Mayor")
        for round_ in range(15):
            base = round_ * 10
            standing = services.figure_save(figure=new_count(site, hours=base + 5, count=1, source=source), user=alice)

            def retract(count=standing) -> None:
                count.verification = Verification.RETRACTED
                services.figure_save(figure=count, user=alice)

            def add(base=base) -> None:
                services.figure_save(figure=new_count(site, hours=base + 1, count=2, source=source), user=alice)

            self.run_together(retract, add)
            assert kept() == ranked(), f"round {round_}"
