"""Time and identifiers: an injectable clock, Slack-like ids and strictly increasing ``ts``."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

Clock = Callable[[], float]
"""A callable returning the current time as epoch seconds (``time.time`` by default)."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


class IdFactory:
    """Issues Slack-shaped ids (``U0000000001``-like) and message timestamps.

    ``ts`` values look like Slack's (``"1700000000.000100"``), follow the clock and are strictly
    increasing even when the clock stands still or goes backwards.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counter = itertools.count(1)
        self._last_us = 0
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        return f"{prefix}0{_base36(n, 9)}"

    def new_token(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        return f"{prefix}-{n:011d}-{_base36(n * 7919, 12).lower()}"

    def new_ts(self) -> str:
        with self._lock:
            now_us = int(self._clock() * 1_000_000)
            self._last_us = max(now_us, self._last_us + 1)
            sec, us = divmod(self._last_us, 1_000_000)
        return f"{sec}.{us:06d}"

    def now(self) -> float:
        return self._clock()
