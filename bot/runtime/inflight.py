"""Work that Slack has been told is done (acked) but that is still running.

Listeners run on after their ack. `InFlight` counts them so a graceful shutdown (a rolling
deploy's SIGTERM) waits for that work instead of dropping it, and tests can wait for the bot
to be idle instead of sleeping. Once closed (`close`), it takes no new requests. It also bounds
how much post-ack work runs at once, so new requests are acked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class InFlight:
    def __init__(self, post_ack_slots: int = 4, ack_priority_s: float = 1.0) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(post_ack_slots)
        self._receiving = 0
        self._none_receiving = asyncio.Event()
        self._none_receiving.set()
        self._ack_priority_s = ack_priority_s
        self.accepting = True
        """False once shutdown began: new Slack requests are turned away (HTTP 503, a Socket
        Mode envelope left unacknowledged), so Slack gives them to a replica that stays."""

    def close(self) -> None:
        """Take no new requests; what is in flight runs on (`drain`)."""
        self.accepting = False

    @asynccontextmanager
    async def receiving(self) -> AsyncIterator[None]:
        """A Slack request is being handled and has not been answered yet."""
        self._receiving += 1
        self._none_receiving.clear()
        try:
            yield
        finally:
            self._receiving -= 1
            if self._receiving == 0:
                self._none_receiving.set()

    @asynccontextmanager
    async def post_ack_slot(self) -> AsyncIterator[None]:
        """Room for one piece of post-ack Slack work; acks come first.

        At most `post_ack_slots` run at once, and each waits (up to `ack_priority_s`) while
        requests are still waiting for their ack. Under a burst (50 declares at once) the acks
        then get the CPU instead of competing with 50 × 8 Slack calls, which Slack's tier-2
        methods would throttle anyway. The bound on the wait keeps a steady stream of requests
        from starving the work.
        """
        async with self._slots:
            if self._receiving:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._none_receiving.wait(), self._ack_priority_s)
            yield

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
