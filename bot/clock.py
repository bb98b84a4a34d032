"""The one source of time for Fireline, injectable so tests move time instead of sleeping.

Production uses `SystemClock`. Tests use `ManualClock` (in `tests/`), whose `advance()` wakes
every sleeper whose deadline has passed, so a 60-minute reminder is tested in milliseconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time and real sleeps."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
