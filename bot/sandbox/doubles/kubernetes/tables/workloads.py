"""Printers for workloads: Pods, Deployments and ReplicaSets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.cells import (
    AGE,
    NAME,
    Column,
    Printer,
    age,
    containers,
    format_selector,
    since,
)


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
        age(pod, now),
        ips[0]["ip"] if ips else "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def _deployment(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj["spec"], obj.get("status", {})
    names, images = containers(spec["template"].get("spec", {}))
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def _replica_set(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj["spec"], obj.get("status", {})
    names, images = containers(spec.get("template", {}).get("spec", {}))
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(obj, now),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


WIDE_TEMPLATE: list[Column] = [
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]
PRINTERS: dict[tuple[str, str], Printer] = {
    ("v1", "Pod"): (
        [
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod,
    ),
    ("apps/v1", "Deployment"): (
        [
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            AGE,
            *WIDE_TEMPLATE,
        ],
        _deployment,
    ),
    ("apps/v1", "ReplicaSet"): (
        [
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            *WIDE_TEMPLATE,
        ],
        _replica_set,
    ),
}
