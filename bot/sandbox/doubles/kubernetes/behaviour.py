"""How a workload's containers behave in the living cluster: what they log, what they use, how
they fail, as pure functions of the container, the moment and the service's state then.

Nothing here is stored. A log line is a function of (pod, container instance, line number), so
the same read gives the same lines (deterministic from the cluster's seed) and memory stays
bounded however long the sandbox runs; `life.Life` decides which behaviour a pod has and what
the service's state was at each moment (how many pods served it).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

MI = 2**20


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for these parts (the cluster seed first)."""
    return units(*parts)[0]


def units(*parts: object) -> tuple[float, float, float]:
    """Three deterministic numbers in [0, 1) for these parts (one hash)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=24).digest()
    return (
        int.from_bytes(digest[:8], "big") / 2**64,
        int.from_bytes(digest[8:16], "big") / 2**64,
        int.from_bytes(digest[16:], "big") / 2**64,
    )


def wave(at: datetime, period_s: float = 3600.0, depth: float = 0.1) -> float:
    """Load's slow rise and fall around 1 (±depth over an hour), as traffic does."""
    return 1.0 + depth * math.sin(2 * math.pi * at.timestamp() / period_s)


@dataclass(frozen=True)
class Traffic:
    """What the service's pods see at one moment: requests per second across the service, and
    the share of them failing (from the image's own error rate or a saturated pool)."""

    rps: float
    error_ratio: float
    waiting: int = 0
    """Requests queued for a pooled resource (a database connection) beyond the pool."""
    pool: int = 0


@dataclass(frozen=True)
class Behaviour:
    """One image's (or one workload's) conduct.

    `ok`, `error` and `warn` are log line templates with `{ms}`, `{id}`, `{depth}`,
    `{entries}`, `{heap}`, `{pool}` and `{waiting}`; a line is an error with the traffic's
    error ratio, else a warning with `warn_ratio` (when saturated or near the memory limit),
    else ok."""

    ok: str
    error: str = ""
    warn: str = ""
    error_ratio: float = 0.0
    interval_s: float = 2.0
    """Seconds between log lines of one container."""
    rps: float = 20.0
    """Requests per second the whole service receives (split over its ready pods)."""
    latency_s: float = 0.08
    error_latency_s: float = 1.2
    cpu_m: int = 50
    """CPU of one pod when `pods` pods share the load (millicores); it follows its share."""
    pods: int = 1
    memory_mi: int = 200
    leak_mi_per_min: float = 0.0
    """Memory that grows with the container's age until the limit: an OOM kill."""
    pool: int = 0
    """Connections per pod of a pooled resource (0: none); `concurrency` requests at once need
    one each, beyond the pool they wait and time out."""
    concurrency: float = 0.0
    ready: bool = True
    """False: the readiness probe keeps failing (a dependency times out)."""
    probe_message: str = "HTTP probe failed with statuscode: 503"
    """The readiness probe's failure, as the kubelet words it; `{pod_ip}` is each pod's own
    address."""

    def traffic(self, pods: int, at: datetime, pool: int | None = None) -> Traffic:
        rps = self.rps * wave(at)
        per_pod = pool if pool is not None else self.pool
        if not per_pod:
            return Traffic(rps, self.error_ratio if pods else 1.0)
        capacity = per_pod * pods
        demand = self.concurrency * wave(at)
        if demand <= capacity:
            return Traffic(rps, self.error_ratio, 0, per_pod)
        failing = max(self.error_ratio, 1 - capacity / demand)
        return Traffic(rps, failing, round(demand - capacity), per_pod)

    def lifetime_s(self, limit_bytes: int | None) -> float | None:
        """How long a container lives before the OOM killer ends it (None: it does not leak or
        has no limit)."""
        if not self.leak_mi_per_min or limit_bytes is None:
            return None
        headroom = limit_bytes / MI - self.memory_mi
        return max(60.0, headroom / self.leak_mi_per_min * 60)

    def memory(self, age_s: float, limit_bytes: int | None) -> int:
        grown = self.memory_mi * MI + self.leak_mi_per_min * MI * max(0.0, age_s) / 60
        return int(min(grown, limit_bytes) if limit_bytes else grown)

    def cpu_nanos(self, serving: int, at: datetime) -> int:
        """One pod's CPU while `serving` pods share the service's load."""
        return int(self.cpu_m * 1_000_000 * self.pods / max(1, serving) * wave(at))

    def p95(self, traffic: Traffic) -> float:
        """95th percentile latency: the slow (failing) requests set it once they pass 5 %."""
        return self.error_latency_s if traffic.error_ratio > 0.05 else self.latency_s

    def line(self, u: float, v: float, k: int, traffic: Traffic, heap: float) -> str:
        """Line `k` of a container; `u` and `v` its deterministic draws in [0, 1)."""
        values = {
            "ms": int(self.latency_s * 1000 * (0.5 + v)),
            "id": 1000 + int(v * 9000),
            "depth": 900 + k % 400 + int(v * 60),
            "entries": 12000 + k * 160,
            "heap": int(heap * 100),
            "pool": traffic.pool,
            "waiting": traffic.waiting,
        }
        if self.error and u < traffic.error_ratio:
            values["ms"] = int(self.error_latency_s * 1000 * (0.9 + v / 5))
            return self.error.format(**values)
        saturated = traffic.waiting > 0 and u < traffic.error_ratio * 2
        if self.warn and (saturated or (heap > 0.9 and u > 0.7)):
            return self.warn.format(**values)
        return self.ok.format(**values)
