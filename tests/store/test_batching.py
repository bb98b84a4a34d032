"""Calls of one loop turn share one round trip, and each caller still gets its own answer."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bot.errors import Unavailable
from bot.store.batching import Batched, run_scripts
from bot.store.server import RedisHandle

# Echoes its argument, or fails for "bad": one run's error, not the pipeline's.
ECHO = """
if ARGV[1] == 'bad' then return redis.error_reply('refused ' .. ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


async def test_calls_made_together_share_one_call_each_with_its_own_answer() -> None:
    batches: list[list[int]] = []

    async def many(keys: list[int]) -> list[int | BaseException]:
        batches.append(keys)
        await asyncio.sleep(0)
        return [ValueError(f"no {k}") if k == 3 else k * 10 for k in keys]

    batched: Batched[int, int] = Batched(many)
    answers = await asyncio.gather(*(batched(k) for k in range(6)), return_exceptions=True)
    assert batches == [[0, 1, 2, 3, 4, 5]]
    assert answers[:3] == [0, 10, 20] and answers[4:] == [40, 50]
    assert isinstance(answers[3], ValueError) and str(answers[3]) == "no 3"
    assert await batched(7) == 70  # a lone call goes on its own, at once
    assert batches[-1] == [7]


async def test_a_failed_call_reaches_every_caller_and_a_cancelled_caller_stops_waiting() -> None:
    gate = asyncio.Event()

    async def many(keys: list[str]) -> list[str]:
        await gate.wait()
        raise Unavailable("Redis did not answer (ConnectionError)")

    batched: Batched[str, str] = Batched(many, limit=2)
    callers = [asyncio.ensure_future(batched(k)) for k in "abc"]
    await asyncio.sleep(0)
    callers[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await callers[0]  # at once, although its batch is still waiting
    gate.set()
    for caller in callers[1:]:
        with pytest.raises(Unavailable):
            await caller
    assert batched.calls == 2  # "a", "b" in one call and "c" in another (limit 2)


async def test_scripts_run_in_one_pipeline_each_atomic_and_failing_alone(
    redis_handle: RedisHandle, prefix: str
) -> None:
    redis = redis_handle.client
    echo = redis.register_script(ECHO)
    calls = [([f"{prefix}k{i}"], [value]) for i, value in enumerate(["a", "bad", "c"])]
    first, second, third = await run_scripts(redis, echo, calls)  # loads the script, too
    assert (first, third) == (b"a", b"c")
    assert isinstance(second, Unavailable)
    assert await redis.mget([f"{prefix}k0", f"{prefix}k1", f"{prefix}k2"]) == [b"a", None, b"c"]


async def test_scripts_on_a_redis_that_does_not_answer_fail_as_unavailable() -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    echo = down.register_script(ECHO)
    with pytest.raises(Unavailable):
        await run_scripts(down, echo, [(["k"], ["a"])])
    await down.aclose()
