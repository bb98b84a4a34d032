"""Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

kubectl does not format built-in kinds itself: it asks the API server for a Table and prints its
cells. These are the columns and cells the API server's printers produce for the kinds the
double serves (the same names, order, priorities and formats: `1/1`, `4 (2m ago)`,
`cpu: 96%/70%`, `10.244.1.7:8080 + 1 more...`), computed on the double's clock, so
`kubectl get pods` shows an OOM-killed or crash-looping pod as a cluster would. Like the API
server, every row carries every column; kubectl hides the priority-1 ones unless `-o wide`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import parse_time
from bot.sandbox.doubles.kubernetes.store import Obj

TABLE_MEDIA = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_MEDIA_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"

Column = tuple[str, str, int]  # name, type, priority
Row = Callable[[Obj, datetime], list[Any]]


def wants_table(accept: str) -> str | None:
    """The Table media type the client prefers, if it asked for one."""
    for part in accept.split(","):
        media = part.strip().replace(" ", "")
        if media in (TABLE_MEDIA, TABLE_MEDIA_V1BETA1):
            return media
    return None


# -- formatting, as k8s.io/apimachinery/pkg/util/duration and the printers do -------------------
def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "<unknown>"
    return human_duration((now - parse_time(stamp)).total_seconds())


def _age(obj: Obj, now: datetime) -> str:
    return since(obj["metadata"].get("creationTimestamp"), now)


def format_labels(labels: Mapping[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: requirements sorted by key, `<none>` when empty."""
    if not selector:
        return "<none>"
    parts: list[tuple[str, str]] = [
        (k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin"}
    for expr in selector.get("matchExpressions") or []:
        key, op = expr["key"], expr["operator"]
        if op in ops:
            values = ",".join(sorted(expr.get("values") or []))
            parts.append((key, f"{key} {ops[op]} ({values})"))
        else:
            parts.append((key, key if op == "Exists" else f"!{key}"))
    text = ",".join(p for _, p in sorted(parts))
    return text or "<none>"


def _containers(template_spec: Mapping[str, Any]) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return ",".join(c["name"] for c in containers), ",".join(c.get("image", "") for c in containers)


# -- rows per kind ------------------------------------------------------------------------------
def _pod(pod: Obj, now: datetime) -> list[Any]:
    spec, status = pod.get("spec", {}), pod.get("status", {})
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    total = len(spec.get("containers") or [])
    ready = restarts = 0
    last_restart: str | None = None
    for condition in status.get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    initializing = False
    init_specs = spec.get("initContainers") or []
    for index, container in enumerate(status.get("initContainerStatuses") or []):
        restarts += container.get("restartCount", 0)
        state = container.get("state", {})
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated['exitCode']}")
        elif (waiting := state.get("waiting")) and waiting.get("reason") not in (
            None,
            "",
            "PodInitializing",
        ):
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    if not initializing:
        restarts = 0
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += container.get("restartCount", 0)
            finished = container.get("lastState", {}).get("terminated", {}).get("finishedAt")
            if finished and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = container.get("state", {})
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (terminated := state.get("terminated")) is not None:
                if terminated.get("reason"):
                    reason = terminated["reason"]
                elif terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif container.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in status.get("conditions") or []
            )
            reason = "Running" if pod_ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart:
        restart_text = f"{restarts} ({since(last_restart, now)} ago)"
    ips = status.get("podIPs") or []
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conditions.get(g["conditionType"]) == "True")
        gates_text = f"{true}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        restart_text,
        _age(pod, now),
        ips[0]["ip"] if ips else "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def _deployment(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj["spec"], obj.get("status", {})
    names, images = _containers(spec["template"].get("spec", {}))
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def _replica_set(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj["spec"], obj.get("status", {})
    names, images = _containers(spec.get("template", {}).get("spec", {}))
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def _service(obj: Obj, now: datetime) -> list[Any]:
    spec = obj["spec"]
    kind = spec.get("type", "ClusterIP")
    ips = spec.get("clusterIPs") or []
    external = "<none>"
    if kind == "ExternalName":
        external = spec.get("externalName", "")
    elif kind == "LoadBalancer":
        ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress] + list(
            spec.get("externalIPs") or []
        )
        external = ",".join(found) or "<pending>"
    elif spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    ports = ",".join(
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p['port']}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    return [
        obj["metadata"]["name"],
        kind,
        ips[0] if ips else "<none>",
        external,
        ports or "<none>",
        _age(obj, now),
        format_labels(spec.get("selector")),
    ]


def _endpoints(obj: Obj, now: datetime) -> list[Any]:
    shown: list[str] = []
    count, more = 0, False
    for subset in obj.get("subsets") or []:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == 3:
                    more = True
                    break
                shown.append(address["ip"])
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == 3:
                    more = True
                    break
                shown.append(f"{address['ip']}:{port['port']}")
    text = ",".join(shown)
    if more:
        text = f"{text} + {count - 3} more..."
    return [obj["metadata"]["name"], text or "<none>", _age(obj, now)]


def _node(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    states = [] if ready is None else ["Ready" if ready["status"] == "True" else "NotReady"]
    states = states or ["Unknown"]
    if obj.get("spec", {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted(
        {
            key.removeprefix("node-role.kubernetes.io/")
            for key in obj["metadata"].get("labels", {})
            if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/"
        }
        | (
            {obj["metadata"]["labels"]["kubernetes.io/role"]}
            if "kubernetes.io/role" in obj["metadata"].get("labels", {})
            else set()
        )
    )
    info = status.get("nodeInfo", {})
    addresses = status.get("addresses") or []

    def address(kind: str) -> str:
        return next((a["address"] for a in addresses if a["type"] == kind), "<none>")

    return [
        obj["metadata"]["name"],
        ",".join(states),
        ",".join(roles) or "<none>",
        _age(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace(obj: Obj, now: datetime) -> list[Any]:
    return [obj["metadata"]["name"], obj.get("status", {}).get("phase", ""), _age(obj, now)]


def _event(obj: Obj, now: datetime) -> list[Any]:
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    if series := obj.get("series"):
        last, count = since(series.get("lastObservedTime"), now), series.get("count", count)
    involved = obj.get("involvedObject", {})
    target = involved.get("kind", "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = obj.get("source", {})
    component = source.get("component") or obj.get("reportingComponent", "")
    instance = source.get("host") or obj.get("reportingInstance", "")
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        obj.get("message", "").strip(),
        first,
        count,
        obj["metadata"]["name"],
    ]


def _events_v1(obj: Obj, now: datetime) -> list[Any]:
    """events.k8s.io/v1 Events print as core ones (the API server converts them)."""
    return _event(
        {
            "metadata": obj["metadata"],
            "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
            "lastTimestamp": obj.get("deprecatedLastTimestamp"),
            "eventTime": obj.get("eventTime"),
            "count": obj.get("deprecatedCount"),
            "series": obj.get("series"),
            "involvedObject": obj.get("regarding", {}),
            "type": obj.get("type"),
            "reason": obj.get("reason"),
            "message": obj.get("note", ""),
            "source": obj.get("deprecatedSource", {}),
            "reportingComponent": obj.get("reportingController", ""),
            "reportingInstance": obj.get("reportingInstance", ""),
        },
        now,
    )


def _hpa_targets(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    metrics = spec.get("metrics") or []
    if not metrics:
        return "<none>"
    current = status.get("currentMetrics") or []
    shown: list[str] = []
    for index, metric in enumerate(metrics):
        if metric.get("type") != "Resource":
            shown.append("<unknown>")
            continue
        resource = metric["resource"]
        target = resource.get("target", {})
        now_metric = current[index].get("resource") if len(current) > index else None
        if target.get("averageValue") is not None:
            value = (now_metric or {}).get("current", {}).get("averageValue", "<unknown>")
            shown.append(f"{resource['name']}: {value}/{target['averageValue']}")
        else:
            value = "<unknown>"
            utilization = (now_metric or {}).get("current", {}).get("averageUtilization")
            if utilization is not None:
                value = f"{utilization}%"
            goal = target.get("averageUtilization")
            shown.append(
                f"{resource['name']}: {value}/{f'{goal}%' if goal is not None else '<auto>'}"
            )
    text = ", ".join(shown[:2])
    if len(shown) > 2:
        text = f"{text} + {len(shown) - 2} more..."
    return text


def _hpa(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj["spec"], obj.get("status", {})
    ref = spec.get("scaleTargetRef", {})
    minimum = spec.get("minReplicas")
    return [
        obj["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_targets(spec, status),
        str(minimum) if minimum is not None else "<unset>",
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        _age(obj, now),
    ]


def _default(obj: Obj, now: datetime) -> list[Any]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]


_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)
_WIDE_TEMPLATE: list[Column] = [
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]
_EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "string", 1),
    ("Name", "string", 1),
]

PRINTERS: dict[tuple[str, str], tuple[list[Column], Row]] = {
    ("v1", "Pod"): (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            _AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod,
    ),
    ("apps/v1", "Deployment"): (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            _AGE,
            *_WIDE_TEMPLATE,
        ],
        _deployment,
    ),
    ("apps/v1", "ReplicaSet"): (
        [
            _NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            _AGE,
            *_WIDE_TEMPLATE,
        ],
        _replica_set,
    ),
    ("v1", "Service"): (
        [
            _NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            _AGE,
            ("Selector", "string", 1),
        ],
        _service,
    ),
    ("v1", "Endpoints"): ([_NAME, ("Endpoints", "string", 0), _AGE], _endpoints),
    ("v1", "Node"): (
        [
            _NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            _AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node,
    ),
    ("v1", "Namespace"): ([_NAME, ("Status", "string", 0), _AGE], _namespace),
    ("v1", "Event"): (_EVENT_COLUMNS, _event),
    ("events.k8s.io/v1", "Event"): (_EVENT_COLUMNS, _events_v1),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        [
            _NAME,
            ("Reference", "string", 0),
            ("Targets", "string", 0),
            ("MinPods", "string", 0),
            ("MaxPods", "string", 0),
            ("Replicas", "string", 0),
            _AGE,
        ],
        _hpa,
    ),
}
_DEFAULT: tuple[list[Column], Row] = ([_NAME, ("Created At", "date", 0)], _default)


def _column(column: Column) -> dict[str, Any]:
    name, kind, priority = column
    definition: dict[str, Any] = {
        "name": name,
        "type": kind,
        "format": "name" if name == "Name" else "",
        "description": f"{name} of the object, as kubectl shows it.",
        "priority": priority,
    }
    return definition


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    api_version: str,
    kind: str,
    objects: list[Obj],
    now: datetime,
    *,
    include_object: str = "Metadata",
    metadata: Mapping[str, Any] | None = None,
    with_columns: bool = True,
) -> Obj:
    """A meta.k8s.io/v1 Table of `objects` (all of `api_version`/`kind`)."""
    columns, row = PRINTERS.get((api_version, kind), _DEFAULT)
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = _partial(obj)
        phase = obj.get("status", {}).get("phase") if kind == "Pod" else None
        if phase in ("Succeeded", "Failed"):
            entry["conditions"] = [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": phase,
                    "message": "The pod has completed successfully."
                    if phase == "Succeeded"
                    else "The pod failed.",
                }
            ]
        rows.append(entry)
    result: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(metadata or {}),
        "columnDefinitions": [_column(c) for c in columns] if with_columns else [],
        "rows": rows,
    }
    return result
