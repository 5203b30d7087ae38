"""
Real concurrent transactions on PostgreSQL, made to interleave in one chosen order.

Each side runs in its own thread with its own database connection (as two gunicorn
workers would). A side can stop inside its transaction (`Side.pause()`), holding the
locks it took, until the test lets it go on; the test can wait until a side is
blocked on a lock another holds (`Side.wait_until_blocked()`, read from
pg_stat_activity), so the order is decided by the database's own locks, not by
sleeping. `Holder` is a plain connection that takes a row lock, to stop a side at
the first point where it needs that row.

For `transaction=True` tests marked `postgres`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import psycopg
import pytest
from django.db import close_old_connections, connection, transaction

TIMEOUT = 20.0


def _connect(autocommit: bool = False) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "localhost",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=autocommit,
    )


def _waiting_on_a_lock(pid: int) -> bool:
    with _connect(autocommit=True) as probe:
        row = probe.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row is not None and row[0] == "Lock"


class Side:
    """
    One transaction in its own thread: `fn()` runs inside `transaction.atomic()`; with
    `pause_after=True` the thread then waits (locks held, nothing committed) until
    `go()`. `result()` is fn's return value, or raises what it raised.
    """

    def __init__(self, fn: Callable[[], Any], *, pause_after: bool = False, atomic: bool = True) -> None:
        self.fn, self.pause_after, self.atomic = fn, pause_after, atomic
        self.pid: int | None = None
        self.future: Future[Any] = Future()
        self._started = threading.Event()
        self._paused = threading.Event()
        self._go = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Side:
        self.thread.start()
        assert self._started.wait(TIMEOUT), "the side did not connect"
        return self

    def _run(self) -> None:
        try:
            connection.ensure_connection()
            self.pid = connection.connection.info.backend_pid
            self._started.set()
            if self.atomic:
                with transaction.atomic():
                    value = self.fn()
                    if self.pause_after:
                        self._paused.set()
                        assert self._go.wait(TIMEOUT), "the test never let the side go on"
            else:
                value = self.fn()
            self.future.set_result(value)
        except BaseException as exc:  # handed to the test through the future
            self._started.set()
            self.future.set_exception(exc)
        finally:
            close_old_connections()
            connection.close()

    def wait_until_paused(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self._paused.is_set():
            if self.future.done():
                self.future.result()  # it failed before pausing: show why
                pytest.fail("the side finished without pausing")
            if time.monotonic() > deadline:
                pytest.fail("the side never reached its pause")
            time.sleep(0.01)

    def wait_until_blocked(self) -> bool:
        """Until the side waits for a lock (True) or has finished without needing to (False)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.future.done():
                return False
            if self.pid is not None and _waiting_on_a_lock(self.pid):
                return True
            time.sleep(0.01)
        pytest.fail("the side neither finished nor waited for a lock")

    def go(self) -> None:
        self._go.set()

    def result(self) -> Any:
        return self.future.result(timeout=TIMEOUT)

    def join(self) -> None:
        self._go.set()
        if self.thread.is_alive():
            self.thread.join(TIMEOUT)


class Holder:
    """A connection of the test's own that holds row (or advisory) locks until `release()`."""

    def __init__(self) -> None:
        self.conn = _connect()

    def lock(self, table: str, pk: int) -> Holder:
        self.conn.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608 - a test's own table name
        return self

    def advisory_lock(self, key: int) -> Holder:
        """The transaction-level advisory lock `key`, as a service holding it would."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        return self

    def release(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()
