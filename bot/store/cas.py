"""Compare-and-set on one Redis key: the optimistic WATCH/MULTI loop, written once.

A record that several writers change (an incident, a remediation request) is read, changed by a
pure function, and written back only if nobody wrote it in between; otherwise it is read again
and the function runs again on what the other writer left. That write-if-unchanged is also an
exactly-once claim: of two Approve clicks that both read `pending`, one write lands and the
other re-reads `approved`.

Errors, the same for every caller: another writer winning is retried (a jittered pause that
grows with each attempt, so a crowd of 25 writers on one incident converges) up to
`MAX_CAS_ATTEMPTS`, then `ConcurrentModification` (nothing applied). Any other Redis failure is
`Unavailable`, as for every other store call. What `decide` raises stops the loop, nothing
written.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from bot.errors import ConcurrentModification
from bot.store.calls import WITNESS_TTL_MS, redis_unavailable, replicated, witness

MAX_CAS_ATTEMPTS = 50
BACKOFF_STEP_S = 0.002
"""The n-th retry pauses a random time up to n × this."""

T = TypeVar("T")


@dataclass(frozen=True)
class Decision(Generic[T]):
    """What `decide` made of the current value: the result to return and, when something must
    change, the writes to queue on the transaction (None: write nothing)."""

    result: T
    writes: Callable[[Pipeline], object] | None = None


async def compare_and_set(
    redis: Redis,
    key: str,
    decide: Callable[[bytes | str | None], Decision[T]],
    *,
    gave_up: str,
) -> T:
    """Run `decide` on `key`'s current value (None if absent) and apply its writes atomically,
    only if `key` did not change meanwhile; again from a fresh read if it did.

    `decide` must be pure: it may run several times. `gave_up` is the message of the
    `ConcurrentModification` raised when other writers kept winning.
    """
    for attempt in range(MAX_CAS_ATTEMPTS):
        try:
            async with redis.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                decision = decide(await pipe.get(key))
                if decision.writes is None:
                    await pipe.unwatch()  # type: ignore[no-untyped-call]
                    return decision.result
                pipe.multi()  # type: ignore[no-untyped-call]
                decision.writes(pipe)
                proof = witness(redis)
                if proof is not None:
                    pipe.set(proof[0], proof[1], px=WITNESS_TTL_MS)
                await pipe.execute()
            await replicated(redis, proof)  # on the replicas before anyone is told it is done
            return decision.result
        except WatchError:
            await asyncio.sleep(random.uniform(0, BACKOFF_STEP_S * (attempt + 1)))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
    raise ConcurrentModification(gave_up)
