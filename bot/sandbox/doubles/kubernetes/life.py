"""The living cluster: logs, usage and failures generated from each workload's state and the
clock, when read, rather than written once by a scenario and frozen.

`Life` is attached to a `Cluster` (`cluster.life`). It knows each image's `Behaviour` and keeps
a ledger of which pod served which service when (bounded: pods gone for a day are dropped), so
what the service looked like at any moment (how many pods, which images, how saturated) can be
computed again: for a log line written then, for a Prometheus sample then. The controller calls
`step` each reconcile: pods whose memory has reached their limit are OOM-killed and restarted
(status, restart count and events, as the kubelet reports them), pods whose behaviour fails its
readiness probe stay unready. Without a `Life` the double behaves exactly as before (static
scenarios and tests keep what they wrote).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.behaviour import Behaviour, Traffic, unit, units
from bot.sandbox.doubles.kubernetes.clock import parse_time
from bot.sandbox.doubles.kubernetes.metrics import parse_memory
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

MAX_LINES = 5000
"""Lines a container's log keeps (the kubelet rotates logs; older lines are gone)."""
LEDGER_KEEP = timedelta(days=1)
NEVER_READY = timedelta(days=3650)
RESTART_DELAY_S = 10.0
"""The kubelet's back-off before restarting a killed container."""


@dataclass
class Tenure:
    """One pod's time serving its service (the ledger's entry)."""

    namespace: str
    app: str
    pod: str
    image: str
    created: datetime
    ready_at: datetime
    gone: datetime | None = None
    limit: int | None = None
    """The container's memory limit (bytes), if any."""


def app_of(pod: Obj) -> str:
    return str(pod["metadata"].get("labels", {}).get("app", pod["metadata"]["name"]))


def memory_limit(container: dict[str, Any]) -> int | None:
    raw = container.get("resources", {}).get("limits", {}).get("memory")
    return parse_memory(raw) if raw else None


class Life:
    def __init__(self, seed: int = 0, *, ready_after_s: float = 8.0) -> None:
        self.seed = seed
        self.ready_after = timedelta(seconds=ready_after_s)
        self.behaviours: dict[str, Behaviour] = {}
        self.ledger: dict[tuple[str, str], Tenure] = {}
        self.waiting: set[tuple[str, str]] = set()
        """Pending pods already told they cannot be scheduled (`FailedScheduling` once)."""
        self.primed = False
        """Whether the scenario is built (ReplicaSets seen from then on were created at 0)."""
        self.replicas: dict[tuple[str, str], int] = {}
        """Each ReplicaSet's size when last seen (for the deployment controller's events)."""

    # -- what behaves how ------------------------------------------------------------------
    def behave(self, key: str, behaviour: Behaviour) -> None:
        """Give every pod running image `key` (or, failing that, of app `key`) `behaviour`."""
        self.behaviours[key] = behaviour

    def behaviour(self, image: str, app: str) -> Behaviour | None:
        return self.behaviours.get(image) or self.behaviours.get(app)

    def of_pod(self, pod: Obj) -> Behaviour | None:
        return self.behaviour(pod["spec"]["containers"][0]["image"], app_of(pod))

    def history(
        self,
        namespace: str,
        app: str,
        image: str,
        replicas: int,
        start: datetime,
        end: datetime,
        limit: int | None = None,
    ) -> None:
        """Pods that ran `app` before the scenario begins (an earlier revision's); they served
        it if their behaviour passes its readiness probe."""
        behaviour = self.behaviour(image, app)
        ready_after = self.ready_after if behaviour is None or behaviour.ready else NEVER_READY
        for index in range(replicas):
            name = f"{app}-earlier-{image.rsplit(':', 1)[-1]}-{index}"
            self.ledger[(namespace, name)] = Tenure(
                namespace, app, name, image, start, start + ready_after, end, limit
            )

    # -- the service at a moment -----------------------------------------------------------
    def serving(self, namespace: str, app: str, at: datetime) -> list[Tenure]:
        return [
            t
            for t in self.ledger.values()
            if t.namespace == namespace
            and t.app == app
            and t.ready_at <= at
            and (t.gone is None or t.gone > at)
        ]

    def traffic(self, tenure: Tenure, at: datetime, serving: int | None = None) -> Traffic:
        behaviour = self.behaviour(tenure.image, tenure.app)
        if behaviour is None:
            return Traffic(0.0, 0.0)
        if serving is None:
            serving = len(self.serving(tenure.namespace, tenure.app, at))
        return behaviour.traffic(max(serving, 1), at)

    def apps(self, namespace: str | None = None) -> list[tuple[str, str]]:
        return sorted(
            {(t.namespace, t.app) for t in self.ledger.values() if namespace in (None, t.namespace)}
        )

    # -- logs ----------------------------------------------------------------------------
    def log_lines(
        self,
        cluster: Cluster,
        pod: Obj,
        container: str,
        *,
        previous: bool,
        since: datetime | None = None,
    ) -> list[tuple[datetime, str]]:
        """The lines the container instance (current or previous) has written up to now."""
        behaviour = self.of_pod(pod)
        status = next(
            (s for s in pod["status"].get("containerStatuses", []) if s["name"] == container),
            None,
        )
        if behaviour is None or status is None:
            return []
        now = cluster.now()
        if previous:
            ended = status.get("lastState", {}).get("terminated")
            if not ended:
                return []
            start, end = parse_time(ended["startedAt"]), parse_time(ended["finishedAt"])
        else:
            running = status.get("state", {}).get("running")
            if not running:
                return []
            start, end = parse_time(running["startedAt"]), now
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        tenure = self.ledger.get(key) or Tenure(
            key[0], app_of(pod), key[1], pod["spec"]["containers"][0]["image"], start, start
        )
        step = behaviour.interval_s
        total = int((end - start).total_seconds() // step)
        first = max(0, total - MAX_LINES)
        if since is not None and since > start:
            first = max(first, int((since - start).total_seconds() // step))
        limit = memory_limit(next(c for c in pod["spec"]["containers"] if c["name"] == container))
        instance = status.get("restartCount", 0) - (1 if previous else 0)
        counts = self._counts(tenure, start, end)
        lines = []
        traffic_at: dict[tuple[int, int], Traffic] = {}  # load moves slowly: once a minute
        for k in range(first, total + 1):
            u, v, jitter = units(self.seed, meta["name"], instance, k)
            at = start + timedelta(seconds=(k + jitter * 0.8) * step)
            if at > end or (since is not None and at < since):
                continue
            serving = counts[bisect.bisect_right(counts, (at, 1 << 30)) - 1][1] if counts else 1
            minute = (serving, int(at.timestamp() // 60))
            if (traffic := traffic_at.get(minute)) is None:
                traffic = traffic_at[minute] = self.traffic(tenure, at, serving)
            heap = behaviour.memory(k * step, limit) / limit if limit else 0.0
            lines.append((at, behaviour.line(u, v, k, traffic, heap)))
        return lines[-MAX_LINES:]

    def _counts(self, tenure: Tenure, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """How many pods served the service from each change between `start` and `end`."""
        peers = [
            t
            for t in self.ledger.values()
            if (t.namespace, t.app) == (tenure.namespace, tenure.app)
        ]
        moments = sorted(
            {start}
            | {t.ready_at for t in peers if start < t.ready_at <= end}
            | {t.gone for t in peers if t.gone and start < t.gone <= end}
        )
        return [(m, len(self.serving(tenure.namespace, tenure.app, m))) for m in moments]

    # -- usage ---------------------------------------------------------------------------
    def usage(
        self, cluster: Cluster, pod: Obj, container: dict[str, Any]
    ) -> tuple[int, int] | None:
        """(CPU nanocores, memory bytes) the container uses now, or None if nothing behaves."""
        behaviour = self.of_pod(pod)
        if behaviour is None:
            return None
        now = cluster.now()
        status: dict[str, Any] = next(
            (
                s
                for s in pod["status"].get("containerStatuses", [])
                if s["name"] == container["name"]
            ),
            {},
        )
        running = status.get("state", {}).get("running")
        age = (now - parse_time(running["startedAt"])).total_seconds() if running else 0.0
        serving = len(self.serving(pod["metadata"]["namespace"], app_of(pod), now))
        return behaviour.cpu_nanos(serving, now), behaviour.memory(age, memory_limit(container))

    def memory_at(self, tenure: Tenure, at: datetime, limit: int | None) -> int:
        """A pod's memory at a past moment (its OOM schedule is a function of its creation)."""
        behaviour = self.behaviour(tenure.image, tenure.app)
        if behaviour is None:
            return 0
        lifetime = self.lifetime(tenure.pod, behaviour, limit)
        age = (at - tenure.created).total_seconds()
        if lifetime is not None:
            age %= lifetime + RESTART_DELAY_S
        return behaviour.memory(age, limit)

    def lifetime(self, pod: str, behaviour: Behaviour, limit: int | None) -> float | None:
        """How long each container of this pod lives before the OOM killer (jittered per pod,
        so the replicas do not die in step)."""
        base = behaviour.lifetime_s(limit)
        return None if base is None else base * (0.85 + 0.3 * unit(self.seed, pod, "life"))
