"""
The cache fails open: while Redis cannot be reached, the cache behaves as Django's
DummyCache (every read misses, every write is dropped) instead of raising, so no
request fails because of it. Whatever keeps state in the cache must be correct
without it: the API's throttles then let requests through, a cached page is
computed afresh. A warning is logged, at most once a minute per process, and a line
when Redis answers again.

Structural rather than a try/except at each use: settings.CACHES names this backend,
so every use of the cache (the throttles, cached pages, anything added later) gets it.

After a failure, the cache is not asked again for RETRY_AFTER seconds: a Redis
that does not answer (a lost host rather than a refused connection) would otherwise
cost every request a connect timeout per cache call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

from tracker.logs import warn_throttled

log = logging.getLogger("tracker.cache")
T = TypeVar("T")

RETRY_AFTER = 5.0


class FailOpenRedisCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], *, retry_after: float = RETRY_AFTER, **options: Any) -> None:
        super().__init__(servers, **options)
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._down_until = 0.0  # time.monotonic() before which Redis is not asked
        self._down = False

    def _guard(self, operation: str, call: Callable[[], T], fallback: Callable[[], T]) -> T:
        if self._down and time.monotonic() < self._down_until:
            return fallback()
        try:
            result = call()
        except (RedisError, OSError) as exc:
            with self._lock:
                self._down = True
                self._down_until = time.monotonic() + self._retry_after
            warn_throttled(
                log,
                "cache_unavailable",
                "event=cache_unavailable operation=%s error=%s: %s: reads miss and writes are dropped until it is back",
                operation,
                type(exc).__name__,
                exc,
            )
            return fallback()
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("event=cache_available: the cache answers again")
        return result

    # What DummyCache answers (django/core/cache/backends/dummy.py), for a cache that keeps nothing.

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return self._guard("add", lambda: super(FailOpenRedisCacheClient, self).add(key, value, timeout), lambda: True)

    def get(self, key: Any, default: Any) -> Any:
        return self._guard("get", lambda: super(FailOpenRedisCacheClient, self).get(key, default), lambda: default)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        self._guard("set", lambda: super(FailOpenRedisCacheClient, self).set(key, value, timeout), lambda: None)

    def touch(self, key: Any, timeout: Any) -> bool:
        return self._guard("touch", lambda: super(FailOpenRedisCacheClient, self).touch(key, timeout), lambda: False)

    def delete(self, key: Any) -> bool:
        return self._guard("delete", lambda: super(FailOpenRedisCacheClient, self).delete(key), lambda: False)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        return self._guard("get_many", lambda: super(FailOpenRedisCacheClient, self).get_many(keys), dict)

    def has_key(self, key: Any) -> bool:
        return self._guard("has_key", lambda: super(FailOpenRedisCacheClient, self).has_key(key), lambda: False)

    def incr(self, key: Any, delta: int) -> int:
        def missing() -> int:
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).")

        return self._guard("incr", lambda: super(FailOpenRedisCacheClient, self).incr(key, delta), missing)

    def set_many(self, data: Any, timeout: Any) -> None:
        self._guard("set_many", lambda: super(FailOpenRedisCacheClient, self).set_many(data, timeout), lambda: None)

    def delete_many(self, keys: Any) -> None:
        self._guard("delete_many", lambda: super(FailOpenRedisCacheClient, self).delete_many(keys), lambda: None)

    def clear(self) -> bool:
        return self._guard("clear", lambda: super(FailOpenRedisCacheClient, self).clear(), lambda: False)


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, failing open (see the module's docstring). OPTIONS as RedisCache's."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient
