"""The sandbox clock: Fireline's `Clock`, running `speed` times faster than the wall clock.

Everything in the sandbox reads this one clock (the bot, the Slack workspace's timestamps, the
simulated cluster), so at `--speed 20` the 5-minute checklist arrives after 15 real seconds and
an incident that lasted 40 minutes of sandbox time shows as 40 minutes in its report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class ScaledClock:
    """Sandbox time: starts at the wall clock's now and runs `speed` times as fast."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be above 0")
        self.speed = speed
        self.origin = start or datetime.now(UTC)
        self.wall_start = time.time()
        """The wall-clock instant (epoch seconds) at which sandbox time was `origin`."""
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)

    def timestamp(self) -> float:
        """Seconds since the epoch in sandbox time (the Slack workspace's message clock)."""
        return self.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long `sandbox_seconds` of sandbox time take on the wall clock."""
        return sandbox_seconds / self.speed
