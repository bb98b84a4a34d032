"""Printers for Services and Endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.cells import AGE, NAME, Printer, age, format_labels


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
        age(obj, now),
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
    return [obj["metadata"]["name"], text or "<none>", age(obj, now)]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("v1", "Service"): (
        [
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ],
        _service,
    ),
    ("v1", "Endpoints"): ([NAME, ("Endpoints", "string", 0), AGE], _endpoints),
}
