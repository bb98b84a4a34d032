"""What the simulated cluster's services measure, at any moment of sandbox time: request rate,
error rate, p95 latency, memory per pod, and whether a service is healthy.

Computed from the cluster's `Life` (which pods served which service when, and how their images
behave), so a Prometheus sample, a log line and a health check about the same moment agree:
the errors that start at checkout's bad rollout stop after the rollback in all three. This is
the one place the sandbox's simulated Prometheus, its health endpoints and the drills read a
service's state from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.sandbox.doubles.kubernetes import Cluster
from bot.sandbox.doubles.kubernetes.controller import reconcile_if_due
from bot.sandbox.doubles.kubernetes.life import Life
from bot.sandbox.doubles.kubernetes.pods import is_ready

SLOW_SHARE = 0.05
"""Above this share of slow (failing) requests, they set the 95th percentile."""


@dataclass(frozen=True)
class ServiceState:
    """One service at one moment."""

    namespace: str
    service: str
    pods: int
    """Pods serving (ready) then."""
    rps: float
    error_ratio: float
    p95_s: float
    waiting: int = 0
    """Requests waiting for a pooled connection beyond the pool."""


@dataclass
class Health:
    status: int
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, object]:
        ok = self.status == 200
        return {"status": "ok" if ok else "fail", "checks": self.checks, "simulated": True}


class Telemetry:
    """Reads of the living cluster; every read takes the cluster's lock briefly."""

    def __init__(self, cluster: Cluster) -> None:
        if cluster.life is None:
            raise ValueError("telemetry needs a living cluster (cluster.life)")
        self.cluster = cluster
        self.life: Life = cluster.life

    def services(self) -> list[tuple[str, str]]:
        """(namespace, service) of every service the cluster has run."""
        with self.cluster.lock:
            return self.life.apps()

    def state(self, namespace: str, service: str, at: datetime) -> ServiceState | None:
        """The service at `at` (None: no pod served it then)."""
        with self.cluster.lock:
            serving = self.life.serving(namespace, service, at)
            if not serving:
                return None
            rps = errors = 0.0
            slow = fast = 0.0
            waiting = 0
            for tenure in serving:
                traffic = self.life.traffic(tenure, at, len(serving))
                behaviour = self.life.behaviour(tenure.image, tenure.app)
                share = traffic.rps / len(serving)
                rps += share
                errors += share * traffic.error_ratio
                waiting = max(waiting, traffic.waiting)
                if behaviour is not None:
                    slow = max(slow, behaviour.error_latency_s)
                    fast = max(fast, behaviour.latency_s)
            ratio = errors / rps if rps else 0.0
            p95 = slow if ratio > SLOW_SHARE else fast
            return ServiceState(namespace, service, len(serving), rps, ratio, p95, waiting)

    def memory(self, at: datetime) -> dict[tuple[str, str], int]:
        """Working-set bytes of every pod running at `at`, by (namespace, pod)."""
        with self.cluster.lock:
            found = {}
            for key, tenure in self.life.ledger.items():
                if tenure.created <= at and (tenure.gone is None or tenure.gone > at):
                    found[key] = self.life.memory_at(tenure, at, tenure.limit)
            return found

    def health(self, namespace: str, service: str) -> Health | None:
        """What the service's health endpoint answers now (None: no such service)."""
        cluster = self.cluster
        reconcile_if_due(cluster)
        with cluster.lock:
            pods = [
                p
                for p in cluster.scan("v1", "Pod", namespace)
                if p["metadata"].get("labels", {}).get("app") == service
                and not p["metadata"].get("deletionTimestamp")
            ]
            if not pods and (namespace, service) not in self.life.apps():
                return None
            ready = sum(1 for p in pods if is_ready(p))
            now = cluster.now()
        checks = {"ready_pods": "ok" if ready else "fail"}
        if not ready:
            return Health(503, checks)
        state = self.state(namespace, service, now)
        if state is not None and state.waiting:
            checks["db"] = "fail"
            return Health(503, checks)
        if state is not None and state.error_ratio > 0.2:
            checks["http"] = "fail"
            return Health(500, checks)
        checks["http"] = "ok"
        return Health(200, checks)
