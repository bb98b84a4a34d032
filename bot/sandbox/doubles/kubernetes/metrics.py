"""metrics.k8s.io/v1beta1 usage: quantities, builders, and PodMetrics/NodeMetrics rendering.

Like metrics-server, objects are synthesised on read from the running pods and nodes;
CPU is reported in nanocores (`n`) and memory in kibibytes (`Ki`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

_CPU_SUFFIX = {"n": Decimal(1), "u": Decimal(1_000), "m": Decimal(1_000_000), "": Decimal(10**9)}
_MEM_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "": 1,
}
DEFAULT_USAGE = (2_000_000, 24 * 2**20)  # 2m CPU, 24Mi: an idle container
NODE_AGE = timedelta(days=30)
KUBELET_VERSION = "v1.37.0"


def parse_cpu(quantity: str) -> int:
    """CPU quantity -> nanocores ("250m" -> 250000000)."""
    for suffix in ("n", "u", "m"):
        if quantity.endswith(suffix):
            return int(Decimal(quantity[:-1]) * _CPU_SUFFIX[suffix])
    return int(Decimal(quantity) * _CPU_SUFFIX[""])


def parse_memory(quantity: str) -> int:
    """Memory quantity -> bytes ("512Mi" -> 536870912)."""
    for suffix in ("Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"):
        if quantity.endswith(suffix):
            return int(Decimal(quantity[: -len(suffix)]) * _MEM_SUFFIX[suffix])
    return int(Decimal(quantity))


def set_pod_usage(
    cluster: Cluster,
    namespace: str,
    pod: str,
    *,
    cpu: str,
    memory: str,
    container: str | None = None,
) -> None:
    with cluster.lock:
        obj = cluster.require("v1", "Pod", namespace, pod)
        name = container or obj["spec"]["containers"][0]["name"]
        usage = cluster.pod_usage.setdefault((namespace, pod), {})
        usage[name] = (parse_cpu(cpu), parse_memory(memory))


def add_node(
    cluster: Cluster,
    name: str,
    *,
    cpu: str = "4",
    memory: str = "16Gi",
    usage_cpu: str | None = "1200m",
    usage_memory: str = "7Gi",
) -> Obj:
    """A Ready node; its usage is `usage_cpu`/`usage_memory`, or (`usage_cpu=None`) the sum of
    its pods'."""
    with cluster.lock:
        if usage_cpu is not None:
            cluster.node_usage[name] = (parse_cpu(usage_cpu), parse_memory(usage_memory))
        capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
        address = f"10.0.0.{11 + len(cluster.scan('v1', 'Node'))}"
        return cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
                    "creationTimestamp": format_time(cluster.now() - NODE_AGE),
                },
                "spec": {},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": address},
                        {"type": "Hostname", "address": name},
                    ],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "bootID": cluster.new_uid(),
                        "containerRuntimeVersion": "containerd://2.1.4",
                        "kernelVersion": "6.8.0-1021-gke",
                        "kubeProxyVersion": "",
                        "kubeletVersion": KUBELET_VERSION,
                        "machineID": cluster.new_uid().replace("-", ""),
                        "operatingSystem": "linux",
                        "osImage": "Ubuntu 24.04.2 LTS",
                        "systemUUID": cluster.new_uid(),
                    },
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": format_time(cluster.now()),
                            "lastTransitionTime": format_time(cluster.now()),
                        }
                    ],
                },
            }
        )


def _usage(cpu_nanos: int, memory_bytes: int) -> dict[str, str]:
    return {"cpu": f"{cpu_nanos}n", "memory": f"{memory_bytes // 1024}Ki"}


def _container_usage(
    cluster: Cluster, pod: Obj, container: dict[str, Any], usage: Mapping[str, tuple[int, int]]
) -> tuple[int, int]:
    if container["name"] in usage:
        return usage[container["name"]]
    living = cluster.life.usage(cluster, pod, container) if cluster.life else None
    return living or DEFAULT_USAGE


def node_usage(cluster: Cluster, name: str) -> tuple[int, int]:
    """A node's usage: what was set for it, else the sum of its running pods' (as the kubelet
    measures it, the node's own daemons left out)."""
    if name in cluster.node_usage:
        return cluster.node_usage[name]
    cpu = memory = 0
    for pod in cluster.scan("v1", "Pod"):
        if pod["spec"].get("nodeName") == name and (found := pod_metrics(cluster, pod)):
            cpu += sum(parse_cpu(c["usage"]["cpu"]) for c in found["containers"])
            memory += sum(parse_memory(c["usage"]["memory"]) for c in found["containers"])
    return cpu, memory


def pod_metrics(cluster: Cluster, pod: Obj, stamp: str | None = None) -> Obj | None:
    """The PodMetrics metrics-server would report, or None for pods it does not scrape;
    `stamp` is the scrape's time (formatted once for a whole list)."""
    if pod["status"].get("phase") != "Running":
        return None
    meta = pod["metadata"]
    usage: Mapping[str, tuple[int, int]] = cluster.pod_usage.get(
        (meta["namespace"], meta["name"]), {}
    )
    containers: list[dict[str, Any]] = [
        {"name": c["name"], "usage": _usage(*_container_usage(cluster, pod, c, usage))}
        for c in pod["spec"]["containers"]
    ]
    stamp = stamp or format_time(cluster.now())
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": stamp,
            "labels": dict(meta.get("labels", {})),
        },
        "timestamp": stamp,
        "window": "15.008s",
        "containers": containers,
    }


def node_metrics(cluster: Cluster, node: Obj) -> Obj:
    name = node["metadata"]["name"]
    return {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": name,
            "creationTimestamp": format_time(cluster.now()),
            "labels": dict(node["metadata"].get("labels", {})),
        },
        "timestamp": format_time(cluster.now()),
        "window": "20.022s",
        "usage": _usage(*node_usage(cluster, name)),
    }
