"""Redis through Sentinel: the master the Sentinels name, found again after a failover.

redis-py's Sentinel support does the finding: every new connection of the pool asks the
Sentinels for the master's address (the first one that answers and sees a healthy master), and
when the address changes the idle connections to the old master are dropped. A connection
still open to the old master fails once: with `ConnectionError` if it died, or a `READONLY`
answer once it has been made a replica (redis-py turns that into `ConnectionError` and
disconnects). Either is `Unavailable` to the caller, like any Redis failure, and the next
call connects to the new master. Every client Fireline has (the blocking `XREADGROUP` of the
alert inbox included) is this one client, so nothing stays on the old master.

Acknowledged writes wait for a replica (`bot.store.calls.replicated`, `docs/decisions/ha.md`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import RedisError

from bot.store.calls import ReplicatedRedis

SENTINEL_TIMEOUT_S = 1.0
"""Per Sentinel asked: a Sentinel that does not answer in this time is skipped for the next."""


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The Sentinel pool with the blocking pool's waiting: a burst waits for a free connection
    (at most the pool's `timeout`) instead of failing with MaxConnectionsError, as the pool for
    REDIS_URL does (`bot.store.server`)."""


class SentinelRedis(ReplicatedRedis):
    """The master's client; after an unconfirmed write it asks the Sentinels where the master
    is, so connections still open to a demoted one are dropped before the next call."""

    async def rediscover(self) -> None:
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            with contextlib.suppress(RedisError):
                await pool.get_master_address()  # type: ignore[no-untyped-call]


def master(
    sentinels: tuple[tuple[str, int], ...],
    service: str,
    *,
    password: str | None,
    sentinel_password: str | None,
    pool: dict[str, Any],
) -> tuple[ReplicatedRedis, Sentinel]:
    """A client of the master `service`, and the Sentinel manager (closed with it)."""
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels),
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            **({"password": sentinel_password} if sentinel_password else {}),
        },
    )
    client: ReplicatedRedis = manager.master_for(
        service,
        redis_class=SentinelRedis,
        connection_pool_class=BlockingSentinelPool,
        password=password,
        **pool,
    )
    return client, manager


def describe(sentinels: tuple[tuple[str, int], ...], service: str) -> str:
    """What the log says it connected to (never the password)."""
    where = ", ".join(f"{host}:{port}" for host, port in sentinels)
    return f"Redis master {service!r} through the Sentinels at {where}"
