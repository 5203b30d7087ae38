"""
A code works once, even when two requests bring it at the same instant: real
concurrent transactions on PostgreSQL, each thread with its own connection, released
together by a barrier. (A phished code replayed while its owner logs in must not let
both in.)
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from tests import factories
from tests.logins import device_code, with_app
from tracker import accounts
from tracker.models import Role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 8


def race(user, code: str, threads: int = 2) -> list[bool]:
    barrier = threading.Barrier(threads)
    results: list[bool] = []

    def one() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(accounts.second_factor_verify(user=user, code=code) is not None)
        finally:
            connection.close()

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


def test_one_totp_code_brought_twice_at_once_lets_one_in(db):
    for i in range(ROUNDS):
        user = factories.UserFactory(username=f"coordinator{i}", role=Role.COORDINATOR)
        device = with_app(user)
        assert sorted(race(user, device_code(device, timezone.now()))) == [False, True], f"round {i}"


def test_one_backup_code_brought_twice_at_once_lets_one_in(db):
    for i in range(ROUNDS):
        user = factories.UserFactory(username=f"reporter{i}", role=Role.REPORTER)
        with_app(user)
        code = accounts.backup_codes_generate(user=user)[0]
        assert sorted(race(user, code)) == [False, True], f"round {i}"
