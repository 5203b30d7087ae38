"""scripts/run, the newcomer's one command, as a newcomer runs it."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.live import ROOT

RUN = str(ROOT / "scripts" / "run")


def run(tmp_path, port: str) -> tuple[subprocess.CompletedProcess[str], object]:
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "PORT": port, "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("REDIS_URL", None)
    return subprocess.run([RUN], env=env, capture_output=True, text=True, timeout=600, check=False), database


def test_a_taken_port_is_refused_before_anything_is_changed(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, database = run(tmp_path, str(port))
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is taken" in result.stderr
    assert f"PORT={port + 1} scripts/run" in result.stderr
    assert "Nothing was changed." in result.stderr
    # No database made, no demo loaded, no demo password reset.
    assert not database.exists()
    assert "Demo logins" not in result.stdout


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_port_that_is_not_a_number_is_refused(tmp_path, port):
    result, database = run(tmp_path, port)
    assert result.returncode != 0
    assert f"PORT={port!r} is not a port number" in result.stderr
    assert not database.exists()
