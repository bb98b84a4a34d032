"""Calls made in the same turn of the event loop, answered by one round trip for all of them.

A Redis round trip costs the bot ~0.1 ms of CPU however little it carries (redis-py packs,
sends, parses and wakes a task for each); a pipeline of N commands costs little more than one.
When the scheduler starts 64 checklist jobs together, each reads the same kinds of records and
later writes the same kinds of results: `Batched` gathers what the tasks ask for before the loop
next runs (the DataLoader pattern, and ioredis's auto-pipelining), and makes one call with all
of it. Nothing waits on a timer: a call alone goes out on the next turn of the loop, as it would
have; under load, more calls share each round trip.

Each caller still gets its own answer or its own exception (`many` returns one per key, an
exception in place of a value where that key failed); an error of the whole call (Redis down)
is raised to every caller. A caller continues only once its part is done, so a batch changes
how calls travel, never what a caller knows: a write is acknowledged before its caller acts on
it, as with one call each. A caller that is cancelled stops waiting at once (redis-py can
swallow a cancellation mid-call; a future cannot); its part may still be sent with the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from bot.errors import TemporaryError
from bot.store.calls import redis_unavailable

K = TypeVar("K")
V = TypeVar("V")

Many = Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]


class Batched(Generic[K, V]):
    """`await batched(key)`: the answer for `key`, from one `many(keys)` call for every key
    asked for in the same turn of the loop (at most `limit` keys to a call)."""

    def __init__(self, many: Many[K, V], *, limit: int = 256) -> None:
        self.many = many
        self.limit = limit
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self.calls = 0
        """How many `many` calls were made (tests and benchmarks read it)."""

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((key, future))
        return await future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), self.limit):
            task = asyncio.ensure_future(self._answer(waiting[start : start + self.limit]))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _answer(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        self.calls += 1
        try:
            answers = await self.many([key for key, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers to {len(batch)} calls")
        except BaseException as exc:  # every caller learns of it, whatever it was
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue  # its caller was cancelled
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)


ScriptCall = tuple[list[str], list[Any]]
"""One run of a Lua script: its keys and its arguments."""


async def run_scripts(redis: Redis, script: AsyncScript, calls: list[ScriptCall]) -> list[Any]:
    """Run `script` once per call, in one pipeline: each run its own atomic step, as if called
    alone. A run that failed has its exception (`Unavailable`) in place of its result; a
    server that lost its scripts (restart, failover) is given it again."""
    if not calls:
        return []
    pipe = redis.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    try:
        results = await pipe.execute(raise_on_error=False)
    except RedisError as exc:
        raise redis_unavailable(exc) from exc
    out: list[Any] = []
    for (keys, args), result in zip(calls, results, strict=True):
        if isinstance(result, NoScriptError):
            try:
                result = await script(keys=keys, args=args)  # loads it
            except RedisError as exc:
                result = redis_unavailable(exc)
            except TemporaryError as exc:
                result = exc
        elif isinstance(result, RedisError):
            result = redis_unavailable(result)
        out.append(result)
    return out
