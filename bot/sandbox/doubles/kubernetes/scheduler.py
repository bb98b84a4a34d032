"""The living cluster's scheduler: which node a new pod is bound to, or why none can take it.

Like kube-scheduler's default profile, reduced to what the sandbox needs: a node fits when it is
schedulable and the pod's requests fit in what its allocatable has left after the requests of
the pods bound to it; of those, the least requested (by CPU share) wins. A pod no node fits
stays Pending (`PodScheduled` False, `Unschedulable`, the scheduler's message), and is bound
once capacity frees up (`aging._schedule`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.sandbox.doubles.kubernetes.metrics import parse_cpu, parse_memory
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def requests_of(container: dict[str, Any]) -> tuple[int, int]:
    """(CPU nanocores, memory bytes) a container requests."""
    requests = container.get("resources", {}).get("requests", {})
    return parse_cpu(requests.get("cpu", "0")), parse_memory(requests.get("memory", "0"))


def place(cluster: Cluster, spec: dict[str, Any]) -> str | None:
    """The node the pod is bound to; None when none fits (the pod stays Pending)."""
    fits = [(share, name) for share, name, why in _fit(cluster, spec) if not why]
    return min(fits)[1] if fits else None


def unschedulable(cluster: Cluster, spec: dict[str, Any]) -> str:
    """The scheduler's message for a pod no node can take."""
    reasons = Counter(why for _, _, why in _fit(cluster, spec) if why)
    said = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
    return f"0/{sum(reasons.values())} nodes are available: {said}."


def _fit(cluster: Cluster, spec: dict[str, Any]) -> list[tuple[float, str, str]]:
    """(minus the node's free CPU share, node, why it cannot take the pod: "" if it can)."""
    wanted = [requests_of(c) for c in spec.get("containers", [])]
    cpu, memory = sum(w[0] for w in wanted), sum(w[1] for w in wanted)
    used: dict[str, list[int]] = {}
    for pod in cluster.scan("v1", "Pod"):
        node = pod["spec"].get("nodeName")
        if node and pod["status"].get("phase") in ("Running", "Pending"):
            total = used.setdefault(node, [0, 0])
            for container in pod["spec"]["containers"]:
                c, m = requests_of(container)
                total[0] += c
                total[1] += m
    found = []
    for node in cluster.scan("v1", "Node"):
        name = node["metadata"]["name"]
        allocatable = node["status"]["allocatable"]
        free_cpu = parse_cpu(allocatable["cpu"]) - used.get(name, [0, 0])[0]
        free_memory = parse_memory(allocatable["memory"]) - used.get(name, [0, 0])[1]
        why = ""
        if node.get("spec", {}).get("unschedulable"):
            why = "node(s) were unschedulable"
        elif free_cpu < cpu:
            why = "Insufficient cpu"
        elif free_memory < memory:
            why = "Insufficient memory"
        found.append((-free_cpu / max(1, parse_cpu(allocatable["cpu"])), name, why))
    return found


def pending(cluster: Cluster, metadata: Obj, spec: Obj, qos_class: str, at: str) -> Obj:
    """A pod no node can take yet, as the API server holds it: Pending, unscheduled."""
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": at,
        "reason": "Unschedulable",
        "message": unschedulable(cluster, spec),
    }
    status = {"phase": "Pending", "qosClass": qos_class, "conditions": [condition]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def host_ip(cluster: Cluster, node: str) -> str:
    """The node's InternalIP (10.0.0.11 for a node the cluster does not list)."""
    found = cluster.get("v1", "Node", "", node)
    addresses = found["status"].get("addresses", []) if found else []
    return next((a["address"] for a in addresses if a["type"] == "InternalIP"), "10.0.0.11")
