"""The bounded waits of a graceful shutdown: acked requests and background work (the
scheduler's loop among it, which ends once its running jobs have) finish, all within one grace
period (`FIRELINE_SHUTDOWN_GRACE_S`), waited for side by side;
then the loops end, bounded too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from bot.runtime.inflight import InFlight

log = logging.getLogger(__name__)


async def drain_within(
    grace_s: float,
    inflight: InFlight,
    tasks: Collection[asyncio.Task[object]],
) -> bool:
    """Wait until nothing is in flight and `tasks` have ended, or `grace_s` passed; True if
    everything finished. Starts nothing and stops nothing:
    the caller closed the doors before, and cuts short what is left after."""
    waits: list[asyncio.Future[bool]] = [
        asyncio.ensure_future(inflight.drain(grace_s)),
    ]
    if tasks:
        waits.append(asyncio.ensure_future(_ended(tasks, grace_s)))
    return all(await asyncio.gather(*waits))


async def _ended(tasks: Collection[asyncio.Task[object]], grace_s: float) -> bool:
    _, pending = await asyncio.wait(list(tasks), timeout=grace_s)
    return not pending


async def end_loops(
    tasks: Collection[asyncio.Task[object]],
    cooperative: Collection[asyncio.Task[object]],
    bound_s: float,
) -> None:
    """Cancel `tasks` except the `cooperative` ones, which end on their own after their current
    step (the alert worker, the outbox and the scheduler, handing their leases over), and wait.
    Bounded either way (`bound_s`, then as long again after cancelling the stragglers): a
    library that swallows a cancellation must not hang the shutdown."""
    if not tasks:
        return
    for task in tasks:
        if task not in cooperative:
            task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=bound_s)
    for task in stuck:
        task.cancel()
    if stuck:
        _, stuck = await asyncio.wait(stuck, timeout=bound_s)
    if stuck:
        log.warning("%d background tasks did not stop in time", len(stuck))
