"""Reads: a list or one object as stored, with selectors applied; the metrics.k8s.io views
computed from pods and nodes, and events.k8s.io/v1 Events from the core ones."""

from __future__ import annotations

from collections.abc import Mapping

from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.errors import not_found
from bot.sandbox.doubles.kubernetes.events import to_events_v1
from bot.sandbox.doubles.kubernetes.metrics import node_metrics, pod_metrics
from bot.sandbox.doubles.kubernetes.resources import ResourceType
from bot.sandbox.doubles.kubernetes.routing import Target
from bot.sandbox.doubles.kubernetes.selectors import (
    FieldRequirement,
    Requirement,
    parse_field_selector,
    parse_label_selector,
    supported_fields,
)
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def selectors(
    resource: ResourceType, query: Mapping[str, str]
) -> tuple[list[Requirement], list[FieldRequirement]]:
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"))
    if resource.group != "metrics.k8s.io":
        fields = supported_fields(resource.kind, fields)
    return labels, fields


def read_list(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str | None,
    labels: list[Requirement],
    fields: list[FieldRequirement],
) -> list[Obj]:
    if resource.group == "metrics.k8s.io":
        source_kind = "Pod" if resource.plural == "pods" else "Node"
        sources = cluster.select("v1", source_kind, namespace, labels, fields)
        if source_kind == "Node":
            return [node_metrics(cluster, node) for node in sources]
        stamp = format_time(cluster.now())
        return [m for pod in sources if (m := pod_metrics(cluster, pod, stamp)) is not None]
    if resource.group == "events.k8s.io":
        return [to_events_v1(e) for e in cluster.select("v1", "Event", namespace, labels, fields)]
    # Served as stored, not copied: nothing on the way out changes them (see select).
    return cluster.select(resource.api_version, resource.kind, namespace, labels, fields)


def read_one(cluster: Cluster, resource: ResourceType, target: Target) -> Obj:
    namespace, name = target.namespace or "", target.name or ""
    if resource.group == "metrics.k8s.io":
        if resource.plural == "nodes":
            return node_metrics(cluster, cluster.require("v1", "Node", "", name))
        pod = cluster.peek("v1", "Pod", namespace, name)
        metrics = pod_metrics(cluster, pod) if pod else None
        if metrics is None:
            raise not_found("pods", name, "metrics.k8s.io")
        return metrics
    if resource.group == "events.k8s.io":
        return to_events_v1(cluster.require("v1", "Event", namespace, name))
    # Served as stored, not copied, as lists are (see select).
    obj = cluster.peek(resource.api_version, resource.kind, namespace, name)
    if obj is None:
        raise not_found(resource.plural, name, resource.group)
    return obj
