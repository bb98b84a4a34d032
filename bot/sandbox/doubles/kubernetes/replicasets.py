"""The ReplicaSet controller: create or retire pods to match `spec.replicas`, report status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.pods import is_ready, is_terminating, new_pod, terminate
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def owned_by(obj: Obj, owner: Obj) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"]
        for ref in obj["metadata"].get("ownerReferences", [])
    )


def pods_of(cluster: Cluster, replica_set: Obj) -> list[Obj]:
    """The ReplicaSet's active pods (a Terminating pod no longer counts, as in the controller's
    FilterActivePods)."""
    namespace = replica_set["metadata"]["namespace"]
    return [
        p
        for p in cluster.scan("v1", "Pod", namespace)
        if owned_by(p, replica_set) and not is_terminating(p)
    ]


def available_count(cluster: Cluster, replica_set: Obj) -> int:
    return sum(1 for p in pods_of(cluster, replica_set) if is_ready(p))


def sync_replica_set(cluster: Cluster, replica_set: Obj, now: datetime) -> None:
    pods = pods_of(cluster, replica_set)
    wanted = int(replica_set["spec"].get("replicas", 0))
    namespace = replica_set["metadata"]["namespace"]
    for _ in range(wanted - len(pods)):
        name = f"{replica_set['metadata']['name']}-{cluster.random_suffix()}"
        pod = new_pod(
            cluster,
            namespace,
            name,
            replica_set["spec"]["template"],
            owner=replica_set,
            ready=False,
        )
        cluster.create(pod)
        cluster.pod_ready_at[(namespace, name)] = now + timedelta(seconds=cluster.timing.pod_ready)
    if len(pods) > wanted:
        # Like the real controller: delete not-ready pods first, then the newest.
        pods.sort(key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)
        pods.sort(key=is_ready)
        for pod in pods[: len(pods) - wanted]:
            terminate(cluster, pod)


def replica_set_status(cluster: Cluster, replica_set: Obj) -> None:
    pods = pods_of(cluster, replica_set)
    ready = sum(1 for p in pods if is_ready(p))
    status: dict[str, Any] = {
        "replicas": len(pods),
        "observedGeneration": replica_set["metadata"].get("generation", 1),
    }
    if pods:
        status["fullyLabeledReplicas"] = len(pods)
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if replica_set.get("status") != status:
        replica_set["status"] = status
        cluster.update(replica_set)
