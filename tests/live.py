"""
Real processes for the operations tests: a private `redis-server` (on a free port,
never the shared one) that a test stops and starts, `celery worker` and `celery beat`
processes, and gunicorn serving the app with production settings, all on the pytest
test database (the tests that use them commit: `transaction=True`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is true; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"within {timeout:.0f} s: {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The test database (test_<name>), for the processes started here."""
    db = connection.settings_dict
    user = db["USER"] or ""
    if db["PASSWORD"]:
        user += f":{db['PASSWORD']}"
    return f"postgres://{user}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class PrivateRedis:
    """A redis-server of our own on a free port, to stop and start."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed on PATH"
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, "the private redis-server started")

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Process:
    """A process of the app in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:8]}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


def _started(process: Process, line: str, what: str) -> None:
    try:
        wait_for(lambda: line in process.output() or not process.alive(), 60, what)
        assert process.alive(), process.output()
    except BaseException:
        process.kill()
        raise


def app_env(broker: str, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off) on the test database and this broker, plain HTTP on loopback."""
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker,
        "CELERY_BROKER_URL": broker,
        "LOG_LEVEL": "INFO",
        # The sweep every second, for every marker: tests wait seconds, not minutes.
        "FLAG_SWEEP_INTERVAL": "1",
        "FLAG_SWEEP_GRACE": "0",
        # High enough never to refuse: the throttles must still count (in the cache).
        "API_THROTTLE_ANON": "1000000/minute",
        "API_THROTTLE_USER": "1000000/minute",
        **extra,
    }


def worker(log_dir: Path, broker: str, *, concurrency: int = 1, args: tuple[str, ...] = (), **env: str) -> Process:
    """A `celery worker` with Celery's defaults (gossip, mingle, heartbeats), as deploy/ runs it."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tracker",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        f"--hostname=ops-test-{uuid.uuid4().hex[:8]}@%h",
        *args,
    ]
    process = Process("worker", command, app_env(broker, **env), log_dir)
    _started(process, " ready.", "the worker started")
    return process


def beat(log_dir: Path, broker: str, **env: str) -> Process:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tracker",
        "beat",
        "--loglevel=INFO",
        f"--schedule={log_dir / f'beat-{uuid.uuid4().hex[:8]}'}",
    ]
    process = Process("beat", command, app_env(broker, **env), log_dir)
    _started(process, "beat: Starting", "beat started")
    return process


class Gunicorn(Process):
    def __init__(self, log_dir: Path, broker: str, *, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "tracker.wsgi",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
        ]
        super().__init__("gunicorn", command, app_env(broker, **env), log_dir)
        try:
            wait_for(self._answers, 60, f"gunicorn answered on port {self.port}")
        except BaseException:
            self.kill()
            raise

    def _answers(self) -> bool:
        assert self.alive(), self.output()
        try:
            requests.get(f"{self.base}/api/v1/", timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            return False
        return True

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.base + path, headers=headers, timeout=30)


def unit_settings(unit: Path) -> dict[str, str]:
    """The [Service] settings of a systemd unit of deploy/ (the last one where a key repeats)."""
    settings: dict[str, str] = {}
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


class Supervised:
    """
    A unit of deploy/ run as systemd runs it, without systemd: its ExecStart (with this
    interpreter for the deployment's /srv/tracker/.venv/bin/<program>), started again
    RestartSec after each exit for which its Restart= says so (`always`: any exit, a
    kill included; `on-failure`: a non-zero status or a signal; `no`: none). `exits`
    lists the return codes it saw (negative: killed by that signal), `processes` those
    it started, in order.
    """

    def __init__(self, unit: str, log_dir: Path, env: dict[str, str], *, args: tuple[str, ...] = ()) -> None:
        settings = unit_settings(ROOT / "deploy" / unit)
        program, *unit_args = shlex.split(settings["ExecStart"])
        assert program.startswith("/srv/tracker/.venv/bin/"), program
        self.command = [sys.executable, "-m", Path(program).name, *unit_args, *args]
        self.restart = settings.get("Restart", "no")
        self.restart_sec = float(settings.get("RestartSec", "0.1"))  # systemd's default: 100 ms
        self.name, self.env, self.log_dir = Path(unit).stem, env, log_dir
        self.exits: list[int] = []
        self.processes: list[Process] = []
        self._stopping = threading.Event()
        self._start()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        self.processes.append(Process(self.name, self.command, self.env, self.log_dir))

    @property
    def current(self) -> Process:
        return self.processes[-1]

    def _restarts(self, code: int) -> bool:
        return self.restart == "always" or (self.restart == "on-failure" and code != 0)

    def _supervise(self) -> None:
        while True:
            code = self.current.process.wait()
            if self._stopping.is_set():
                return
            self.exits.append(code)
            if not self._restarts(code) or self._stopping.wait(self.restart_sec):
                return
            self._start()

    def ready(self, line: str = " ready.") -> bool:
        """Whether the process running now has said it is ready."""
        return self.current.alive() and line in self.current.output()

    def output(self) -> str:
        return "".join(process.output() for process in self.processes)

    def stop(self) -> None:
        self._stopping.set()
        self.current.stop()
        self._thread.join(timeout=30)
