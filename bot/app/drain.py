"""The bounded wait of a graceful shutdown: acked requests, running jobs and background work
finish, all within one grace period (`FIRELINE_SHUTDOWN_GRACE_S`), waited for side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from bot.runtime.inflight import InFlight
from bot.runtime.scheduler import Scheduler


async def drain_within(
    grace_s: float,
    inflight: InFlight,
    scheduler: Scheduler,
    tasks: Collection[asyncio.Task[object]],
) -> bool:
    """Wait until nothing is in flight, the scheduler's running jobs are done and `tasks` have
    ended, or `grace_s` passed; True if everything finished. Starts nothing and stops nothing:
    the caller closed the doors before, and cuts short what is left after."""
    waits: list[asyncio.Future[bool]] = [
        asyncio.ensure_future(inflight.drain(grace_s)),
        asyncio.ensure_future(scheduler.drain(grace_s)),
    ]
    if tasks:
        waits.append(asyncio.ensure_future(_ended(tasks, grace_s)))
    return all(await asyncio.gather(*waits))


async def _ended(tasks: Collection[asyncio.Task[object]], grace_s: float) -> bool:
    _, pending = await asyncio.wait(list(tasks), timeout=grace_s)
    return not pending
