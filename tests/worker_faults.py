"""
Loaded by a test's worker only (`celery worker --include=tests.worker_faults`): the
crash of issue 10 on demand. Once the file named by TRACKER_TEST_FAULT_FILE exists,
kombu's Redis transport fails as it did there, with an AttributeError while it
connects again, which Celery cannot recover from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kombu.transport import redis as kombu_redis

_connparams = kombu_redis.Channel._connparams


def _failing_connparams(self: Any, asynchronous: bool = False) -> Any:
    armed = os.environ.get("TRACKER_TEST_FAULT_FILE")
    if armed and Path(armed).exists():
        raise AttributeError("'NoneType' object has no attribute 'hostname'")
    return _connparams(self, asynchronous=asynchronous)


kombu_redis.Channel._connparams = _failing_connparams
