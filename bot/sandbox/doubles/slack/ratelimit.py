"""Slack's rate limits: token buckets per (token, method) by tier, and per channel for posting."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from bot.sandbox.doubles.slack.reference import MethodSpec

# Tier -> (requests per minute, burst). Slack documents the rates as "N+ per minute".
TIER_LIMITS: dict[str, tuple[float, float]] = {
    "t1": (1, 2),
    "t2": (20, 5),
    "t3": (50, 10),
    "t4": (100, 20),
}


class RateLimitMode(Enum):
    OFF = "off"
    REAL = "real"
    SCALED = "scaled"


@dataclass(frozen=True)
class RateLimits:
    """Rate limit configuration of a double.

    ``RateLimits.off()`` never limits; ``RateLimits.real()`` uses Slack's rates;
    ``RateLimits.scaled(f)`` multiplies every rate by ``f`` (f > 1 is more permissive and
    faster to recover). ``post_per_channel_per_sec`` / ``post_burst`` shape chat.postMessage's
    special per-channel limit (before scaling).
    """

    mode: RateLimitMode = RateLimitMode.OFF
    factor: float = 1.0
    post_per_channel_per_sec: float = 1.0
    post_burst: float = 4.0
    overrides: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def off(cls) -> RateLimits:
        return cls(RateLimitMode.OFF)

    @classmethod
    def real(cls, *, post_burst: float = 4.0) -> RateLimits:
        return cls(RateLimitMode.REAL, post_burst=post_burst)

    @classmethod
    def scaled(cls, factor: float, *, post_burst: float = 4.0) -> RateLimits:
        if factor <= 0:
            raise ValueError("factor must be > 0")
        return cls(RateLimitMode.SCALED, factor=factor, post_burst=post_burst)

    def per_second_and_burst(self, spec: MethodSpec) -> tuple[float, float] | None:
        """(tokens per second, bucket size) for a method, or None when unlimited."""
        if self.mode is RateLimitMode.OFF:
            return None
        factor = self.factor if self.mode is RateLimitMode.SCALED else 1.0
        if spec.name in self.overrides:
            per_min, burst = self.overrides[spec.name]
        elif spec.name == "chat.postMessage":
            return self.post_per_channel_per_sec * factor, self.post_burst
        elif spec.custom_rate is not None:
            per_min, burst = spec.custom_rate
        elif spec.tier in TIER_LIMITS:
            per_min, burst = TIER_LIMITS[spec.tier]
        else:
            return None
        return per_min * factor / 60.0, burst


class _Bucket:
    def __init__(self, rate: float, size: float, now: float) -> None:
        self.rate = rate
        self.size = size
        self.tokens = size
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token; 0.0 if granted, else seconds until one is available."""
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets keyed by (token, method[, channel]); thread-safe."""

    def __init__(self, limits: RateLimits, monotonic: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._now = monotonic
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, spec: MethodSpec, token: str, channel: str | None = None) -> int | None:
        """None if the call may proceed, else the integer Retry-After (seconds, >= 1)."""
        shape = self.limits.per_second_and_burst(spec)
        if shape is None:
            return None
        rate, size = shape
        key: tuple[str, ...] = (token, spec.name)
        if spec.name == "chat.postMessage":
            key = (*key, channel or "")
        with self._lock:
            now = self._now()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(rate, max(size, 1.0), now)
            wait = bucket.take(now)
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
