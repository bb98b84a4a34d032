"""What a Redis call's failure becomes, and the base every Redis-backed part of the store shares.

Every call into Redis turns redis-py's exceptions into Fireline's (`Unavailable`, a
`TemporaryError`), raised `from` the original, so the features never see the client library's
exception tree. A cancellation redis-py hid inside a `RedisError` (or swallowed) is raised as
what it was.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.errors import Unavailable
from bot.store.keys import Keys

log = logging.getLogger(__name__)


def raise_if_cancelled() -> None:
    """Stop if this task is being cancelled.

    redis-py (seen with 8.1) can turn a cancellation that arrives mid-command into a RedisError,
    or swallow it and return normally; a loop that carried on would never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def redis_unavailable(exc: RedisError) -> Unavailable:
    """The Fireline error for a failed Redis call (or CancelledError, if that is what it was).

    Its message reaches people in Slack, so it says what failed, not where: redis-py's text
    names the host and port ("Error 111 connecting to 10.0.0.5:6379"). The log keeps that."""
    raise_if_cancelled()
    log.warning("Redis call failed: %s: %s", type(exc).__name__, exc)
    return Unavailable(f"Redis did not answer ({type(exc).__name__})")


def text(value: Any) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else cast(str, value)


class RedisPart:
    """One part of the store: the client and the key names (the parts share both)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
