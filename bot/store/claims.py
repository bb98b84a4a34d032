"""Once-only claims and short locks across replicas, on Redis.

A claim (`SET NX EX`) is taken before anything that must happen once per key (a command
delivered twice, a report on resolve); a lock (`SET NX PX` + a token, released by a Lua step
only by its holder, renewed while held, expiring when its holder dies) serialises short work on
one thing (provisioning an incident, rendering its card).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.store import scripts
from bot.store.calls import RedisPart, redis_unavailable
from bot.store.keys import Keys

log = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 24 * 3600
LOCK_TTL_MS = 15_000
"""A lock left by a process that died is free again after this (its holder renews it)."""
RELEASE_WITHIN_S = 10.0
"""How long a holder keeps trying to release its lock while Redis does not answer (a failover
takes a few seconds); then the lock is left to expire."""
RELEASE_FIRST_S = 0.05


class Claims(RedisPart):
    def __init__(self, redis: Redis, keys: Keys) -> None:
        super().__init__(redis, keys)
        self._release = redis.register_script(scripts.RELEASE_LOCK)
        self._renew = redis.register_script(scripts.RENEW_LOCK)

    async def claim(self, scope: str, key: str, ttl: int = CLAIM_TTL_SECONDS) -> bool:
        """True for the first caller with this (scope, key) within `ttl`; False for the rest."""
        try:
            return bool(await self.redis.set(self.keys.claim(scope, key), "1", nx=True, ex=ttl))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def release_claim(self, scope: str, key: str) -> None:
        """Give a claim back (the work it guarded failed and may be tried again)."""
        try:
            await self.redis.delete(self.keys.claim(scope, key))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    @asynccontextmanager
    async def lock(
        self, name: str, ttl_ms: int = LOCK_TTL_MS, wait_s: float = 10.0
    ) -> AsyncIterator[bool]:
        """A short mutual-exclusion lock across replicas. Yields False if not acquired in time.

        The lock holds a token only its taker knows (released by a Lua step comparing it) and
        expires after `ttl_ms`; while the work runs the lock is extended every third of that,
        so slow work keeps it and a dead process's lock is gone within `ttl_ms`. Redis failing
        while taking it raises `Unavailable` (never redis-py's errors); failing while releasing
        it is logged, and the lock expires on its own."""
        token = secrets.token_hex(8)
        key = self.keys.lock(name)
        acquired = False
        lock_wait = _Backoff(wait_s)
        try:
            while True:
                acquired = bool(await self.redis.set(key, token, nx=True, px=ttl_ms))
                if acquired or not await lock_wait.sleep():
                    break
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        keeper = asyncio.ensure_future(self._keep(key, token, ttl_ms)) if acquired else None
        try:
            yield acquired
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            if acquired:
                await self._give_back(name, key, token, ttl_ms)

    async def _give_back(self, name: str, key: str, token: str, ttl_ms: int) -> None:
        """Release a held lock. Redis failing (a failover) is tried again while it comes back,
        for at most `RELEASE_WITHIN_S` (and never for a task being cancelled): a lock left
        behind keeps its next holder (the job's retry) out for its whole TTL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(ttl_ms / 1000, RELEASE_WITHIN_S)
        delay = RELEASE_FIRST_S
        while True:
            try:
                await self._release(keys=[key], args=[token])
                return
            except RedisError:
                task = asyncio.current_task()
                if loop.time() + delay > deadline or (task is not None and task.cancelling()):
                    log.warning("could not release lock %s; it expires in %d ms", name, ttl_ms)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _keep(self, key: str, token: str, ttl_ms: int) -> None:
        """Extend a held lock every third of its TTL until cancelled (a failed renewal is left
        to the next one: the lock still has two thirds of its time)."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                if not await self._renew(keys=[key], args=[token, ttl_ms]):
                    log.warning("lock %s was lost (expired or taken over)", key)
                    return
            except RedisError:
                continue


class _Backoff:
    """Sleeps 5 ms, 10 ms, … up to 200 ms between lock attempts, until `total` has passed."""

    def __init__(self, total: float) -> None:
        self.remaining = total
        self.delay = 0.005

    async def sleep(self) -> bool:
        if self.remaining <= 0:
            return False
        await asyncio.sleep(self.delay)
        self.remaining -= self.delay
        self.delay = min(self.delay * 2, 0.2)
        return True
