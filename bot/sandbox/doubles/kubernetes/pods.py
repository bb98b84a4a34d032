"""Pod objects as the kubelet reports them, plus helpers that put pods into failure states."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes import scheduler
from bot.sandbox.doubles.kubernetes.clock import format_time, parse_time
from bot.sandbox.doubles.kubernetes.events import add_event
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def container_id(seed: str) -> str:
    return "containerd://" + hashlib.sha256(seed.encode()).hexdigest()


def _image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0]
    return f"{repo}@sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _qos_class(containers: list[dict[str, Any]]) -> str:
    resources = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(res) is not None
        and r.get("requests", {}).get(res, r.get("limits", {}).get(res)) == r["limits"][res]
        for r in resources
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(kind: str, status: bool, at: str, reason: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": at,
    }
    if reason:
        condition["reason"] = reason
    return condition


def new_pod(
    cluster: Cluster,
    namespace: str,
    name: str,
    template: dict[str, Any],
    *,
    owner: Obj | None = None,
    node: str | None = None,
    ready: bool = True,
    started: datetime | None = None,
) -> Obj:
    """Build a running pod from a pod template (not stored)."""
    started = started or cluster.now()
    at = format_time(started)
    index = cluster.random.randrange(2, 250)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(template.get("metadata", {}).get("labels", {})),
        "creationTimestamp": at,
    }
    if annotations := template.get("metadata", {}).get("annotations"):
        metadata["annotations"] = dict(annotations)
    if owner is not None:
        metadata["generateName"] = owner["metadata"]["name"] + "-"
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    spec = dict(template.get("spec", {}))
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", "default")
    node = node or spec.get("nodeName")
    containers = spec.get("containers", [])
    if node is None and cluster.life is not None:
        # The living cluster's scheduler spreads pods over the nodes within their allocatable
        # (none fits: the pod waits, Pending); a static one puts every pod on node-1 (what its
        # tests were written for).
        node = scheduler.place(cluster, spec)
        if node is None:
            return scheduler.pending(cluster, metadata, spec, _qos_class(containers), at)
    node = node or "node-1"
    spec["nodeName"] = node
    pod_ip = f"10.244.{cluster.random.randrange(0, 8)}.{index}"
    host_ip = scheduler.host_ip(cluster, node)
    status: dict[str, Any] = {
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": at,
        "qosClass": _qos_class(containers),
        "conditions": [
            _condition("PodReadyToStartContainers", True, at),
            _condition("Initialized", True, at),
            _condition("Ready", ready, at, None if ready else "ContainersNotReady"),
            _condition("ContainersReady", ready, at, None if ready else "ContainersNotReady"),
            _condition("PodScheduled", True, at),
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": _image_id(c["image"]),
                "containerID": container_id(f"{namespace}/{name}/{c['name']}"),
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": at}},
                "lastState": {},
            }
            for c in containers
        ],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def set_ready(pod: Obj, ready: bool, at: datetime) -> None:
    """Flip a pod's Ready/ContainersReady conditions and container readiness in place."""
    stamp = format_time(at)
    for condition in pod["status"].get("conditions", []):
        if condition["type"] in ("Ready", "ContainersReady"):
            wanted = "True" if ready else "False"
            if condition["status"] != wanted:
                condition["status"] = wanted
                condition["lastTransitionTime"] = stamp
            if ready:
                condition.pop("reason", None)
            else:
                condition["reason"] = "ContainersNotReady"
    for status in pod["status"].get("containerStatuses", []):
        status["ready"] = ready


def is_ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def terminate(
    cluster: Cluster, pod: Obj, grace: int | None = None, *, dry_run: bool = False
) -> Obj:
    """Delete a pod as the API server and the kubelet do: gracefully.

    A pod bound to a node and not finished is marked Terminating (deletionTimestamp = now +
    grace, deletionGracePeriodSeconds) and stays listed until the simulated kubelet has stopped
    its containers (`Timing.termination`, at most the grace period), on the cluster's clock; its
    controller already counts it gone and starts a replacement. Grace 0, an unscheduled pod or a
    finished one is removed at once. Returns what the DELETE answers: the object with its
    deletionTimestamp.
    """
    with cluster.lock:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        result = copy.deepcopy(pod)
        meta = result["metadata"]
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        now = cluster.now()
        finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        if grace <= 0 or not pod["spec"].get("nodeName") or finished:
            meta.setdefault("deletionTimestamp", format_time(now))
            meta["deletionGracePeriodSeconds"] = 0
            if not dry_run:
                cluster.delete("v1", "Pod", namespace, name)
            return result
        deadline = now + timedelta(seconds=grace)
        if meta.get("deletionTimestamp") and parse_time(meta["deletionTimestamp"]) <= deadline:
            return result  # already terminating, and sooner: a later delete cannot lengthen it
        meta["deletionTimestamp"] = format_time(deadline)
        meta["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return result
        stored = cluster.update(result)
        gone = now + timedelta(seconds=cluster.timing.termination(grace))
        key = (namespace, name)
        cluster.pod_gone_at[key] = min(gone, cluster.pod_gone_at.get(key, gone))
        cluster.pod_ready_at.pop(key, None)
        return stored


def _mutate_container(
    cluster: Cluster, namespace: str, pod_name: str, container: str | None
) -> tuple[Obj, dict[str, Any]]:
    pod = cluster.require("v1", "Pod", namespace, pod_name)
    statuses = pod["status"]["containerStatuses"]
    status = next((s for s in statuses if container in (None, s["name"])), None)
    if status is None:
        raise KeyError(f"container {container!r} not in pod {pod_name!r}")
    return pod, status


def mark_oom_killed(
    cluster: Cluster,
    namespace: str,
    pod_name: str,
    *,
    container: str | None = None,
    restarts: int = 4,
    last_killed_seconds_ago: float = 120,
) -> Obj:
    """Container restarted after the kernel OOM killer ended it (exit code 137)."""
    with cluster.lock:
        pod, status = _mutate_container(cluster, namespace, pod_name, container)
        now = cluster.now()
        finished = now - timedelta(seconds=last_killed_seconds_ago)
        status["restartCount"] = restarts
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": format_time(finished - timedelta(minutes=14)),
                "finishedAt": format_time(finished),
                "containerID": container_id(f"{namespace}/{pod_name}/{restarts - 1}"),
            }
        }
        status["state"] = {"running": {"startedAt": format_time(finished + timedelta(seconds=1))}}
        cluster.pod_ready_at.pop((namespace, pod_name), None)
        return cluster.update(pod)


def mark_crash_loop(
    cluster: Cluster,
    namespace: str,
    pod_name: str,
    *,
    container: str | None = None,
    restarts: int = 7,
    exit_code: int = 1,
) -> Obj:
    """Container keeps exiting; the kubelet backs off restarting it."""
    with cluster.lock:
        pod, status = _mutate_container(cluster, namespace, pod_name, container)
        now = cluster.now()
        status["restartCount"] = restarts
        status["started"] = False
        status["lastState"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Error",
                "startedAt": format_time(now - timedelta(seconds=40)),
                "finishedAt": format_time(now - timedelta(seconds=30)),
                "containerID": status["containerID"],
            }
        }
        status["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={status['name']} "
                f"pod={pod_name}_{namespace}({pod['metadata']['uid']})",
            }
        }
        set_ready(pod, False, now)
        cluster.pod_ready_at.pop((namespace, pod_name), None)
        stored = cluster.update(pod)
        add_event(
            cluster,
            stored,
            "BackOff",
            "Back-off restarting failed container "
            f"{status['name']} in pod {pod_name}_{namespace}({pod['metadata']['uid']})",
            type_="Warning",
            count=restarts * 3,
            component="kubelet",
        )
        return stored


def mark_image_pull_backoff(
    cluster: Cluster, namespace: str, pod_name: str, *, container: str | None = None
) -> Obj:
    """The image cannot be pulled; the pod never starts."""
    with cluster.lock:
        pod, status = _mutate_container(cluster, namespace, pod_name, container)
        image = status["image"]
        status.pop("containerID", None)
        status.pop("imageID", None)
        status["imageID"] = ""
        status["started"] = False
        status["state"] = {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{image}"',
            }
        }
        pod["status"]["phase"] = "Pending"
        set_ready(pod, False, cluster.now())
        cluster.pod_ready_at.pop((namespace, pod_name), None)
        stored = cluster.update(pod)
        add_event(
            cluster,
            stored,
            "Failed",
            f'Failed to pull image "{image}": rpc error: code = '
            f'NotFound desc = failed to pull and unpack image "{image}": not found',
            type_="Warning",
            count=4,
            component="kubelet",
        )
        add_event(
            cluster,
            stored,
            "BackOff",
            f'Back-off pulling image "{image}"',
            type_="Normal",
            count=12,
            component="kubelet",
        )
        return stored


def mark_readiness_failing(
    cluster: Cluster,
    namespace: str,
    pod_name: str,
    *,
    message: str = "HTTP probe failed with statuscode: 503",
    count: int = 30,
) -> Obj:
    """Container runs but its readiness probe fails: Ready False plus an Unhealthy event."""
    with cluster.lock:
        pod, _ = _mutate_container(cluster, namespace, pod_name, None)
        set_ready(pod, False, cluster.now())
        cluster.pod_ready_at.pop((namespace, pod_name), None)
        stored = cluster.update(pod)
        add_event(
            cluster,
            stored,
            "Unhealthy",
            f"Readiness probe failed: {message}",
            type_="Warning",
            count=count,
            component="kubelet",
        )
        return stored


def add_logs(
    cluster: Cluster,
    namespace: str,
    pod_name: str,
    lines: list[str],
    *,
    container: str | None = None,
    previous: bool = False,
    interval: float = 1.0,
    end: datetime | None = None,
) -> None:
    """Append log lines; timestamps are spaced `interval` seconds apart, ending at `end`."""
    with cluster.lock:
        pod = cluster.require("v1", "Pod", namespace, pod_name)
        name = container or pod["spec"]["containers"][0]["name"]
        end = end or cluster.now()
        stamped = [
            (end - timedelta(seconds=interval * (len(lines) - 1 - i)), line)
            for i, line in enumerate(lines)
        ]
        logs = cluster.container_logs(namespace, pod_name, name)
        if previous:
            logs.previous = (logs.previous or []) + stamped
        else:
            logs.current.extend(stamped)
        cluster.notify()  # a follower (`kubectl logs -f`) sends the new lines
