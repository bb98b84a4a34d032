"""Failure injection: make the next N calls of a method fail in a chosen way."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """How one call fails.

    ``error`` answers ``{"ok": false, "error": error}`` with HTTP ``status`` (200 by default;
    ``error="ratelimited"`` defaults to 429 with ``Retry-After: retry_after``). ``status`` >= 500
    without ``error`` answers a bare 5xx. ``drop`` closes the connection without any answer.
    ``lost_answer`` carries the call out, then closes the connection before answering (Slack
    did it; the caller cannot know). ``hold`` answers normally, but only once the test says so.
    """

    error: str | None = None
    status: int = 200
    drop: bool = False
    retry_after: int = 1
    lost_answer: bool = False
    hold: Hold | None = None


@dataclass(frozen=True)
class Hold:
    """A call kept waiting, controlled by the test: `reached` is set when the call arrives,
    and the double carries it out and answers once `release` is set (events of the double's
    loop: use it from a test running the double on its own loop)."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class FaultInjector:
    """Per-method queues of pending faults; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()

    def add(self, method: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._pending[method].extend([fault] * times)

    def take(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._pending.get(method)
            if queue:
                return queue.popleft()
            wildcard = self._pending.get("*")
            return wildcard.popleft() if wildcard else None

    def pending(self, method: str) -> int:
        with self._lock:
            return len(self._pending.get(method, ()))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
