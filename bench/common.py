"""What the benchmarks share: a log line, a fresh database, rows written with COPY."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management import call_command
from django.db import connection


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


def reset_database(database_url: str) -> None:
    """Drop and recreate the database Django is set to use (on the server of `database_url`), then migrate it."""
    import psycopg

    name = connection.settings_dict["NAME"]
    connection.close()
    admin_url = database_url.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def copy_rows(table: str, columns: list[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write these rows with COPY, then move the table's id sequence past them; how many rows."""
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return n
