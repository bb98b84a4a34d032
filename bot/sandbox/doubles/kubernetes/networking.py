"""Builders for Services and their Endpoints (ready and not-ready addresses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.pods import is_ready
from bot.sandbox.doubles.kubernetes.selectors import Requirement
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def add_service(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    selector: Mapping[str, str] | None = None,
    port: int = 80,
    target_port: int = 8080,
) -> Obj:
    """A ClusterIP Service plus Endpoints computed from the pods it selects right now."""
    with cluster.lock:
        selector = dict(selector or {"app": name})
        cluster_ip = f"10.96.{cluster.random.randrange(0, 255)}.{cluster.random.randrange(1, 254)}"
        service = cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"app": name},
                    "creationTimestamp": _created_with(cluster, namespace, name),
                },
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "clusterIP": cluster_ip,
                    "clusterIPs": [cluster_ip],
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                    "sessionAffinity": "None",
                    "ports": [
                        {"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}
                    ],
                },
                "status": {"loadBalancer": {}},
            }
        )
        sync_endpoints(cluster, namespace, name)
        return service


def _created_with(cluster: Cluster, namespace: str, name: str) -> str:
    """A workload's Service is as old as its Deployment (else: created now)."""
    deployment = cluster.get("apps/v1", "Deployment", namespace, name)
    if deployment is not None:
        return str(deployment["metadata"]["creationTimestamp"])
    return format_time(cluster.now())


def sync_endpoints(cluster: Cluster, namespace: str, name: str) -> Obj:
    """(Re)compute a Service's Endpoints from pod readiness, as the endpoints controller does."""
    with cluster.lock:
        service = cluster.require("v1", "Service", namespace, name)
        requirements = [Requirement(k, "=", (v,)) for k, v in service["spec"]["selector"].items()]
        pods = cluster.select("v1", "Pod", namespace, requirements)  # read only: no copies
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for pod in pods:
            if "podIP" not in pod["status"]:
                continue
            address = {
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"].get("nodeName", "node-1"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": namespace,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            (ready if is_ready(pod) else not_ready).append(address)
        port = service["spec"]["ports"][0]
        subset: dict[str, object] = {
            "ports": [{"name": port["name"], "port": port["targetPort"], "protocol": "TCP"}]
        }
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name},
                "creationTimestamp": service["metadata"]["creationTimestamp"],
            },
            "subsets": [subset] if ready or not_ready else [],
        }
        return cluster.upsert(endpoints)
