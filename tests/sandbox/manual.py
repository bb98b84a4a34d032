"""Sandbox time that moves only when a test says so, at a declared `--speed`."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.sandbox.clock import ScaledClock
from tests.clock import ManualClock


class ManualSandboxClock(ScaledClock):
    """A `ScaledClock` for `speed` whose time stands still until `advance()`: a scripted team
    acts at exact moments of drill time, whatever the machine's load."""

    def __init__(self, speed: float) -> None:
        super().__init__(speed)
        self.manual = ManualClock(self.origin)

    def now(self) -> datetime:
        return self.manual.now()

    async def sleep(self, seconds: float) -> None:
        await self.manual.sleep(seconds)

    async def advance(self, seconds: float, step_s: float = 30.0) -> None:
        """Move time on by `seconds`, `step_s` at a time, letting what wakes at each step run
        (a drill's scripted steps, the bot's scheduled jobs) before the next."""
        while seconds > 0:
            hop = min(step_s, seconds)
            self.manual.advance(hop)
            seconds -= hop
            for _ in range(5):
                await asyncio.sleep(0)
