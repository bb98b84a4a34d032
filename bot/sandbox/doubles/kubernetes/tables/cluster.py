"""Printers for the cluster-scoped kinds: Nodes and Namespaces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.cells import AGE, NAME, Printer, age


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
        age(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace(obj: Obj, now: datetime) -> list[Any]:
    return [obj["metadata"]["name"], obj.get("status", {}).get("phase", ""), age(obj, now)]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("v1", "Node"): (
        [
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node,
    ),
    ("v1", "Namespace"): ([NAME, ("Status", "string", 0), AGE], _namespace),
}
