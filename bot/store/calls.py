"""What a Redis call's failure becomes, and the base every Redis-backed part of the store shares.

Every call into Redis turns redis-py's exceptions into Fireline's (`Unavailable`, a
`TemporaryError`), raised `from` the original, so the features never see the client library's
exception tree. A cancellation redis-py hid inside a `RedisError` (or swallowed) is raised as
what it was.

A write a person is about to be told is done passes `replicated()` first: with replicas to
wait for (Sentinel), the master must have it on that many replicas, or the person is not told
"done" (`docs/decisions/ha.md`). Neither redis-py nor this module retries a call: a failover's
failed calls are `Unavailable`, and what is retried, where, is decided once by the callers
(the scheduler's job backoff, the outbox, Alertmanager's re-sending on a 503, the reconcile).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    names the host and port ("Error 111 connecting to 10.0.0.5:6379"). The log keeps that.
    `sent` (`after_sending`) says whether the command may have run."""
    raise_if_cancelled()
    log.warning("Redis call failed: %s: %s", type(exc).__name__, exc)
    return Unavailable(f"Redis did not answer ({type(exc).__name__})", sent=after_sending(exc))


def after_sending(exc: RedisError) -> bool:
    """Whether redis-py failed once the command was sent, waiting for its answer (so it may have
    run), rather than connecting or writing it (so it did not). Told by redis-py's own words
    (8.x: "Timeout reading from …", "Error while reading from …", "Connection closed by
    server."; against "Error 111 connecting to …", "Timeout connecting to server", "Timeout
    writing to socket", "Error … while writing to socket"); anything else counts as sent,
    since "it may have happened" is never untrue."""
    if not isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return False  # an answer came (an error reply): the server says what it did
    text = str(exc).lower()
    return not ("connecting" in text or "writing" in text)


REPLICA_WAIT_MS = 1000
"""Longest `replicated()` waits for the replicas (`WAIT`); inside the 2 s an ack may take."""


class ReplicatedRedis(Redis):
    """A client whose acknowledged writes wait for `replica_acks` replicas (`replicated()`).

    Made by `bot.store.server.connect` for a server with replicas; a plain `Redis` (the
    embedded server, the tests' local one) waits for none."""

    replica_acks: int = 0
    barrier_key: str = "fireline:replication-barrier"

    async def rediscover(self) -> None:
        """Look for the master again after a write was not confirmed (Sentinel: ask them)."""


Witness = tuple[str, str]
"""A key and the value it holds only where a write happened: `replicated()` reads it on the
server it confirms on, so a write that went to a master since demoted is never confirmed."""
WITNESS_TTL_MS = 60_000


def witness(redis: Redis) -> Witness | None:
    """A fresh witness for a write about to be made (None: the client waits for no replica);
    the caller sets it in the write's own transaction (`SET key value PX WITNESS_TTL_MS`)."""
    if not isinstance(redis, ReplicatedRedis) or redis.replica_acks <= 0:
        return None
    return f"{redis.barrier_key}:{uuid.uuid4().hex}", "1"


async def replicated(redis: Redis, proof: Witness | None = None) -> None:
    """Return once the write this task has just made is on the replicas the client waits for;
    `Unavailable` when they did not confirm it within `REPLICA_WAIT_MS`, or when the write is
    not on the server answering (`proof`, the write's witness, is not there).

    `WAIT` counts the writes of its own connection, and the pool may have handed the write to
    another: a write of its own (INCR on the barrier key), made after it on the same master,
    and `WAIT` on that connection cover it, since a replica acknowledges a replication offset,
    which only grows. "The same master" is what the witness proves: during a failover the pool
    holds connections to the old master and the new one. On a server that has just become a
    replica `WAIT` is refused, which is as unconfirmed as too few replicas."""
    if not isinstance(redis, ReplicatedRedis) or redis.replica_acks <= 0:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            if proof is not None:
                pipe.get(proof[0])
            pipe.incr(redis.barrier_key)
            pipe.execute_command("WAIT", redis.replica_acks, REPLICA_WAIT_MS)
            answers = await pipe.execute()
    except RedisError as exc:
        await redis.rediscover()
        raise redis_unavailable(exc) from exc
    if proof is not None and (answers[0] is None or text(answers[0]) != proof[1]):
        await redis.rediscover()
        log.warning("Redis: a write was lost in a failover (it is not on the new master)")
        raise Unavailable("Redis lost the change in a failover")
    acked = int(answers[-1])
    if acked < redis.replica_acks:
        await redis.rediscover()
        log.warning(
            "Redis: %s of %d replicas confirmed a write within %d ms",
            acked,
            redis.replica_acks,
            REPLICA_WAIT_MS,
        )
        raise Unavailable("Redis could not confirm the change on a replica")


def text(value: Any) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else cast(str, value)


class RedisPart:
    """One part of the store: the client and the key names (the parts share both)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
