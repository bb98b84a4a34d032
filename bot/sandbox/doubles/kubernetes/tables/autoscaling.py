"""The printer for HorizontalPodAutoscalers (the Targets column: `cpu: 96%/70%`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.cells import AGE, NAME, Printer, age


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
        age(obj, now),
    ]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        [
            NAME,
            ("Reference", "string", 0),
            ("Targets", "string", 0),
            ("MinPods", "string", 0),
            ("MaxPods", "string", 0),
            ("Replicas", "string", 0),
            AGE,
        ],
        _hpa,
    ),
}
