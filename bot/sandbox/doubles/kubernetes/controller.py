"""The control loop: the deployment and ReplicaSet controllers and the kubelet, run in turn.

`reconcile(cluster)` is idempotent and driven by the cluster clock: the server calls it
before every request and on a short timer, tests with a ManualClock call it directly.
Rollouts move one step per `timing.rollout_step` seconds (surge one new pod, then retire
one old pod once enough new pods are available), so callers can follow them the way
`kubectl rollout status` does. The controllers themselves live in `deployments`,
`replicasets` and `kubelet`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sandbox.doubles.kubernetes import aging
from bot.sandbox.doubles.kubernetes.clock import parse_time
from bot.sandbox.doubles.kubernetes.deployments import deployment_status, rollout
from bot.sandbox.doubles.kubernetes.kubelet import run_kubelet
from bot.sandbox.doubles.kubernetes.replicasets import replica_set_status, sync_replica_set
from bot.sandbox.doubles.kubernetes.store import Cluster

SETTLED_RECHECK_S = 1.0
"""How often a cluster with an unfinished rollout is re-checked when nothing else changed (its
progress deadline is counted in seconds)."""
_NEVER = datetime.max.replace(tzinfo=UTC)


def reconcile_if_due(cluster: Cluster) -> bool:
    """Reconcile unless the last run changed nothing and nothing it reads has changed since.

    `reconcile` is a function of the stored objects (their resourceVersion), the kubelet and
    rollout timers, and the clock; a run that wrote nothing records them and when the clock
    next matters (a pod due Ready, a rollout step, a rollout's progress deadline). Until one of
    those moves, another run would write nothing too, so it is skipped: a settled cluster costs
    no controller CPU per request or per tick. Returns whether it ran.
    """
    with cluster.lock:
        now = cluster.now()
        settled = cluster.settled
        if settled is not None and settled[0] == _inputs(cluster) and now < settled[1]:
            return False
        reconcile(cluster)
        return True


def _inputs(cluster: Cluster) -> tuple[object, ...]:
    return (
        cluster.resource_version,
        tuple(sorted(cluster.pod_ready_at.items())),
        tuple(sorted(cluster.rollout_next_step.items())),
        tuple(sorted(cluster.pod_gone_at.items())),
    )


def _next_due(cluster: Cluster, now: datetime) -> datetime:
    due = list(cluster.pod_ready_at.values()) + list(cluster.pod_gone_at.values())
    due += [t for t in cluster.rollout_next_step.values() if t > now]
    for deployment in cluster.scan("apps/v1", "Deployment"):
        conditions = deployment.get("status", {}).get("conditions", [])
        progressing = next((c for c in conditions if c["type"] == "Progressing"), None)
        if progressing is None:
            due.append(now + timedelta(seconds=SETTLED_RECHECK_S))
        elif progressing.get("reason") == "ReplicaSetUpdated":
            # Nothing but its progress deadline can change an unfinished rollout now (its
            # steps and pods' readiness are timers above): re-check when that passes.
            deadline = int(deployment["spec"].get("progressDeadlineSeconds", 600))
            passes = parse_time(progressing["lastUpdateTime"]) + timedelta(seconds=deadline + 1)
            due.append(max(passes, now + timedelta(seconds=SETTLED_RECHECK_S)))
    if cluster.life is not None and (living := aging.next_due(cluster, cluster.life, now)):
        due.append(living)
    return min(due, default=_NEVER)


def reconcile(cluster: Cluster) -> None:
    with cluster.lock:
        before = _inputs(cluster)
        _reconcile(cluster)
        after = _inputs(cluster)
        now = cluster.now()
        cluster.settled = (after, _next_due(cluster, now)) if after == before else None


def _reconcile(cluster: Cluster) -> None:
    with cluster.lock:
        now = cluster.now()
        if cluster.life is not None:
            aging.step(cluster, cluster.life, now)
        run_kubelet(cluster, now)
        for deployment in cluster.list("apps/v1", "Deployment"):
            rollout(cluster, deployment, now)
        for replica_set in cluster.list("apps/v1", "ReplicaSet"):
            sync_replica_set(cluster, replica_set, now)
        run_kubelet(cluster, now)
        for replica_set in cluster.list("apps/v1", "ReplicaSet"):
            replica_set_status(cluster, replica_set)
        for deployment in cluster.list("apps/v1", "Deployment"):
            deployment_status(cluster, deployment, now)
