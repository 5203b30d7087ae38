"""
kombu's Redis transport, made to survive the broker outages it meets under load
(settings: CELERY_BROKER_TRANSPORT, with a redis:// broker).

When the worker loses Redis, Celery collects the broken connection (which drops the
transport's link to it) and then closes it; closing a channel gives its unacknowledged
messages back to the queue, and for that the channel asks for a new Redis client, built
from the connection's parameters — which are gone. kombu 5.7 then fails with
`AttributeError: 'NoneType' object has no attribute 'hostname'`, which is not one of
the connection errors Celery expects there, and the worker stops for good ("Unrecoverable
error"; about 1 outage in 5 under write load, tests/tracker/test_operations_live.py).
No released kombu or Celery fixes it.

Here the same situation raises a connection error, as it is: Celery ignores it while
closing and reconnects as after any other. The messages not given back are not lost:
Redis keeps every unacknowledged message and the next worker to start, or the
visibility timeout, gives it back; and whatever happens to a flag check's task, its
outbox row brings the sweep to it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
