"""core/v1 Events (as the kubelet and controllers record them) and the events.k8s.io/v1 view."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_micro_time, format_time
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def add_event(
    cluster: Cluster,
    involved: Obj,
    reason: str,
    message: str,
    *,
    type_: str = "Normal",
    count: int = 1,
    component: str = "kubelet",
    first: datetime | None = None,
    last: datetime | None = None,
    field_path: str | None = None,
) -> Obj:
    """Record an event about `involved`; repeated events carry a count and a time span."""
    last = last or cluster.now()
    first = first or (last - timedelta(seconds=30 * (count - 1)))
    meta = involved["metadata"]
    namespace = meta.get("namespace", "default")
    ref: dict[str, Any] = {
        "apiVersion": involved["apiVersion"],
        "kind": involved["kind"],
        "name": meta["name"],
        "namespace": namespace,
        "uid": meta["uid"],
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if field_path is None and involved["kind"] == "Pod":
        field_path = f"spec.containers{{{involved['spec']['containers'][0]['name']}}}"
    if field_path:
        ref["fieldPath"] = field_path
    source: dict[str, Any] = {"component": component}
    if component == "kubelet" and involved["kind"] == "Pod":
        source["host"] = involved["spec"].get("nodeName", "node-1")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{cluster.random.getrandbits(64):016x}",
            "namespace": namespace,
        },
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": format_time(first),
        "lastTimestamp": format_time(last),
        "count": count,
        "type": type_,
        "reportingComponent": component,
        "reportingInstance": source.get("host", ""),
    }
    return cluster.create(event)


def to_events_v1(event: Obj) -> Obj:
    """Convert a core/v1 Event to the events.k8s.io/v1 shape, as the API server does."""
    meta = {k: v for k, v in event["metadata"].items()}
    result: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta,
        "eventTime": format_micro_time(
            datetime.fromisoformat(event["lastTimestamp"].replace("Z", "+00:00"))
        ),
        "regarding": event["involvedObject"],
        "reason": event.get("reason", ""),
        "note": event.get("message", ""),
        "type": event.get("type", "Normal"),
        "reportingController": event.get("reportingComponent", ""),
        "reportingInstance": event.get("reportingInstance", ""),
        "deprecatedCount": event.get("count", 1),
        "deprecatedFirstTimestamp": event.get("firstTimestamp"),
        "deprecatedLastTimestamp": event.get("lastTimestamp"),
        "deprecatedSource": event.get("source", {}),
    }
    return result
