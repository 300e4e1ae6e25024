"""The broker as the apps see it: what handing it a task raises while it is down."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import RedisError

BROKER_DOWN: tuple[type[Exception], ...] = (BrokerUnreachable, RedisError)
"""What handing a task to Redis raises while Redis is down (the broker, or the cache beside it)."""
