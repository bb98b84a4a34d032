"""The deployment controller: one ReplicaSet per pod template, rolled out step by step.

Each step surges one new pod, then retires one old pod once enough new pods are available
(maxSurge / maxUnavailable); the deployment's status and its Available and Progressing
conditions (with the progress deadline) are computed as the real controller does. A rollback
makes the old template's ReplicaSet current again under a new revision number, its former
numbers kept in `deployment.kubernetes.io/revision-history`, as the controller does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_time, parse_time
from bot.sandbox.doubles.kubernetes.pods import is_ready
from bot.sandbox.doubles.kubernetes.replicasets import available_count, owned_by, pods_of
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(template)
    labels = result.get("metadata", {}).get("labels", {})
    labels.pop(HASH_LABEL, None)
    return result


def _semantic(value: Any) -> Any:
    """A value as the API server's Go types hold it: null, {} and [] are all "unset" (the
    deployment controller compares templates with `apiequality.Semantic.DeepEqual`, to which a
    nil and an empty map or slice are equal, and a zero `creationTimestamp` is no timestamp)."""
    if isinstance(value, dict):
        kept = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def same_template(replica_set_template: dict[str, Any], template: dict[str, Any]) -> bool:
    """Whether a ReplicaSet runs `template`: equal ignoring the pod-template-hash label and
    fields that are null or empty on either side (EqualIgnoreHash). `kubectl rollout undo`
    patches the deployment with the old ReplicaSet's template as Go serialises it, with
    `metadata.creationTimestamp: null` and `resources: {}`: that must find the old revision."""
    return bool(_semantic(strip_hash(replica_set_template)) == _semantic(strip_hash(template)))


def revision_of(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get(REVISION, "0"))


def _resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = total * int(value[:-1]) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def _limits(deployment: Obj) -> tuple[int, int]:
    desired = int(deployment["spec"].get("replicas", 1))
    rolling = deployment["spec"].get("strategy", {}).get("rollingUpdate", {})
    surge = _resolve(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        surge = 1
    return surge, unavailable


def new_replica_set(cluster: Cluster, deployment: Obj, revision: int, replicas: int) -> Obj:
    """The ReplicaSet the deployment controller creates for the current pod template."""
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"]["template"])
    pod_hash = template_hash(template)
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    annotations = {
        REVISION: str(revision),
        DESIRED: str(deployment["spec"].get("replicas", 1)),
        MAX_REPLICAS: str(deployment["spec"].get("replicas", 1) + _limits(deployment)[0]),
    }
    if cause := meta.get("annotations", {}).get(CHANGE_CAUSE):
        annotations[CHANGE_CAUSE] = cause
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": 0},
    }


def _replica_sets_of(cluster: Cluster, deployment: Obj) -> list[Obj]:
    namespace = deployment["metadata"]["namespace"]
    return [
        rs for rs in cluster.list("apps/v1", "ReplicaSet", namespace) if owned_by(rs, deployment)
    ]


def _current(cluster: Cluster, deployment: Obj, now: datetime) -> tuple[Obj, list[Obj]]:
    """Find or create the ReplicaSet matching the template; returns (new, old ones)."""
    owned = _replica_sets_of(cluster, deployment)
    template = deployment["spec"]["template"]
    latest = max((revision_of(rs) for rs in owned), default=0)
    match = next((rs for rs in owned if same_template(rs["spec"]["template"], template)), None)
    key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
    if match is None:
        match = cluster.create(new_replica_set(cluster, deployment, latest + 1, 0))
        cluster.rollout_next_step[key] = now
    elif revision_of(match) < latest:  # rollback: the old template becomes the newest revision
        notes = match["metadata"]["annotations"]
        # The numbers it had before, oldest first, as SetNewReplicaSetAnnotations keeps them:
        # the only trace on the ReplicaSet that it was made long before it became current.
        notes[REVISION_HISTORY] = ",".join(
            [n for n in notes.get(REVISION_HISTORY, "").split(",") if n] + [notes[REVISION]]
        )
        notes[REVISION] = str(latest + 1)
        cause = deployment["metadata"].get("annotations", {}).get(CHANGE_CAUSE)
        if cause:
            match["metadata"]["annotations"][CHANGE_CAUSE] = cause
        match = cluster.update(match)
        cluster.rollout_next_step[key] = now
    annotations = deployment["metadata"].setdefault("annotations", {})
    if annotations.get(REVISION) != str(revision_of(match)):
        annotations[REVISION] = str(revision_of(match))
        cluster.update(deployment)
    old = [rs for rs in owned if rs["metadata"]["uid"] != match["metadata"]["uid"]]
    return match, old


def rollout(cluster: Cluster, deployment: Obj, now: datetime) -> None:
    new, old = _current(cluster, deployment, now)
    key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
    if now < cluster.rollout_next_step.get(key, now):
        return
    desired = int(deployment["spec"].get("replicas", 1))
    surge, max_unavailable = _limits(deployment)
    active_old = [rs for rs in old if rs["spec"].get("replicas", 0) > 0]
    new_count = int(new["spec"].get("replicas", 0))
    changed = False
    if not active_old:
        if new_count != desired:
            new["spec"]["replicas"] = desired
            changed = True
    else:
        old_total = sum(rs["spec"]["replicas"] for rs in active_old)
        if new_count < desired and new_count + old_total < desired + surge:
            new["spec"]["replicas"] = new_count = new_count + 1
            changed = True
        victim = _scale_down_victim(cluster, new, active_old, desired - max_unavailable)
        if victim is not None:
            victim["spec"]["replicas"] -= 1
            cluster.update(victim)
            changed = True
    if changed:
        new["metadata"]["annotations"][DESIRED] = str(desired)
        cluster.update(new)
        cluster.rollout_next_step[key] = now + timedelta(seconds=cluster.timing.rollout_step)


def _scale_down_victim(
    cluster: Cluster, new: Obj, old: list[Obj], min_available: int
) -> Obj | None:
    """The old ReplicaSet to scale down by one, as reconcileOldReplicaSets chooses: nothing
    while that would leave fewer than `min_available` pods available (counting the new
    ReplicaSet's unavailable pods against the budget); unhealthy old pods go first, then the
    oldest revision's."""
    new_unavailable = int(new["spec"].get("replicas", 0)) - available_count(cluster, new)
    all_count = int(new["spec"].get("replicas", 0)) + sum(rs["spec"]["replicas"] for rs in old)
    if all_count - min_available - new_unavailable <= 0:
        return None
    by_age = sorted(old, key=revision_of)
    for replica_set in by_age:
        if replica_set["spec"]["replicas"] > available_count(cluster, replica_set):
            return replica_set
    total_available = available_count(cluster, new) + sum(
        available_count(cluster, rs) for rs in old
    )
    return by_age[0] if total_available > min_available else None


def _condition(
    previous: list[dict[str, Any]], kind: str, status: str, reason: str, message: str, at: str
) -> dict[str, Any]:
    old = next((c for c in previous if c["type"] == kind), None)
    condition = {
        "type": kind,
        "status": status,
        "lastUpdateTime": at,
        "lastTransitionTime": at,
        "reason": reason,
        "message": message,
    }
    if old is not None:
        if old["status"] == status:
            condition["lastTransitionTime"] = old["lastTransitionTime"]
        if old["status"] == status and old.get("reason") == reason and old["message"] == message:
            condition["lastUpdateTime"] = old["lastUpdateTime"]
    return condition


def deployment_status(cluster: Cluster, deployment: Obj, now: datetime) -> None:
    owned = _replica_sets_of(cluster, deployment)
    template = deployment["spec"]["template"]
    new = next((rs for rs in owned if same_template(rs["spec"]["template"], template)), None)
    desired = int(deployment["spec"].get("replicas", 1))
    _, max_unavailable = _limits(deployment)
    all_pods = [p for rs in owned for p in pods_of(cluster, rs)]
    new_pods = pods_of(cluster, new) if new else []
    ready = sum(1 for p in all_pods if is_ready(p))
    status: dict[str, Any] = {"observedGeneration": deployment["metadata"].get("generation", 1)}
    counts = {
        "replicas": len(all_pods),
        "updatedReplicas": len(new_pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(len(all_pods), desired) - ready,
    }
    status.update({k: v for k, v in counts.items() if v > 0})
    at = format_time(now)
    previous = deployment.get("status", {}).get("conditions", [])
    available = ready >= desired - max_unavailable
    conditions = [
        _condition(
            previous,
            "Available",
            "True" if available else "False",
            "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            at,
        )
    ]
    name = new["metadata"]["name"] if new else deployment["metadata"]["name"]
    new_ready = sum(1 for p in new_pods if is_ready(p))
    complete = len(new_pods) == desired and len(all_pods) == desired and new_ready >= desired
    conditions.append(
        _progressing(
            deployment, previous, counts, name, complete=complete,
            only_new_pods=len(all_pods) == len(new_pods), now=now,
        )
    )  # fmt: skip
    status["conditions"] = conditions
    if deployment.get("status") != status:
        deployment["status"] = status
        cluster.update(deployment)


def _progressed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """DeploymentProgressing: more updated, ready or available pods, or fewer old ones."""

    def n(status: dict[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    return (
        n(after, "updatedReplicas") > n(before, "updatedReplicas")
        or n(after, "replicas") - n(after, "updatedReplicas")
        < n(before, "replicas") - n(before, "updatedReplicas")
        or n(after, "readyReplicas") > n(before, "readyReplicas")
        or n(after, "availableReplicas") > n(before, "availableReplicas")
    )


def _progressing(
    deployment: Obj,
    previous: list[dict[str, Any]],
    counts: dict[str, int],
    name: str,
    *,
    complete: bool,
    only_new_pods: bool,
    now: datetime,
) -> dict[str, Any]:
    """The Progressing condition as syncRolloutStatus keeps it. A finished rollout's condition
    is left alone while every pod is the new ReplicaSet's (a scale, a pod replaced: its times
    still say when that rollout finished); during a rollout each step that makes progress
    moves `lastUpdateTime`, and the progress deadline runs from it."""
    at = format_time(now)
    old = next((c for c in previous if c["type"] == "Progressing"), None)
    # Whether the condition already speaks of this ReplicaSet: one left by the previous
    # rollout says nothing about this one (nor how long it has taken).
    same_rollout = old is not None and f'"{name}"' in old["message"]
    if same_rollout and only_new_pods and old and old["reason"] == "NewReplicaSetAvailable":
        return dict(old)
    if complete:
        return _condition(
            previous,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
            at,
        )
    progressed = _progressed(deployment.get("status") or {}, counts)
    deadline = int(deployment["spec"].get("progressDeadlineSeconds", 600))
    if (
        old is not None
        and same_rollout
        and not progressed
        and (
            old["reason"] == "ProgressDeadlineExceeded"
            or (
                old["reason"] == "ReplicaSetUpdated"
                and (now - parse_time(old["lastUpdateTime"])).total_seconds() > deadline
            )
        )
    ):
        return _condition(
            previous,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            at,
        )
    message = f'ReplicaSet "{name}" is progressing.'
    condition = _condition(previous, "Progressing", "True", "ReplicaSetUpdated", message, at)
    if progressed:
        condition["lastUpdateTime"] = at
    return condition
