"""Work that Slack has been told is done (acked) but that is still running.

Listeners run on after their ack. `InFlight` counts them so a graceful shutdown (a rolling
deploy's SIGTERM) waits for that work instead of dropping it, and tests can wait for the bot
to be idle instead of sleeping.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    def wrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Count every run of the listener `fn` (Bolt still sees fn's own signature)."""

        @functools.wraps(fn)
        async def tracked(*args: P.args, **kwargs: P.kwargs) -> R:
            async with self.track():
                return await fn(*args, **kwargs)

        return tracked

    async def drain(self, grace_s: float) -> bool:
        """Wait until nothing is in flight; False if `grace_s` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            return False
        return True
