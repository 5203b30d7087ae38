"""
How the processes log (settings.LOGGING uses these): one line per record, its time in
UTC with the offset written out (`2022-05-05T05:00:00.123+00:00`), as plain text or,
with LOG_FORMAT=json, as one JSON object per line for a log collector.

And a warning that an outage would repeat on every request is said once in a while
instead (`warn_throttled`): a flood of identical lines hides what else happens.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

UTC = dt.UTC


def utc_timestamp(created: float) -> str:
    return dt.datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class PlainFormatter(logging.Formatter):
    """`<time in UTC> <LEVEL> <logger> <message>`; Django sets TZ to TIME_ZONE, the logs stay in UTC."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


class JSONFormatter(JsonFormatter):
    """
    One JSON object per line: `time`, `level`, `logger`, `message`, and the fields a
    caller passed in `extra` (the request and task lines pass theirs).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = utc_timestamp(record.created)
        super().add_fields(log_data, record, message_dict)


class _Throttle:
    """When each warning key was last logged, and how many were held back since (per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def admit(self, key: str, interval: float) -> int | None:
        """None to stay quiet; else how many were held back before this one."""
        now = time.monotonic()
        with self.lock:
            last = self.last.get(key)
            if last is not None and now - last < interval:
                self.held[key] = self.held.get(key, 0) + 1
                return None
            self.last[key] = now
            return self.held.pop(key, 0)


_throttle = _Throttle()

# A warning about one cause is written at most once per this many seconds per process.
WARNING_INTERVAL = 60.0


def warn_throttled(
    logger: logging.Logger, key: str, message: str, *args: Any, interval: float = WARNING_INTERVAL
) -> bool:
    """
    Log `message % args` as a warning, unless one with this `key` was logged in this
    process within `interval` seconds; the next one says how many were held back.
    Whether it was logged.
    """
    held = _throttle.admit(key, interval)
    if held is None:
        return False
    if held:
        message += " (and %d more like it since the last one)"
        args = (*args, held)
    logger.warning(message, *args)
    return True
