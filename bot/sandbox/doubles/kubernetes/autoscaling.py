"""Builder for autoscaling/v2 HorizontalPodAutoscalers with a realistic status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def add_hpa(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    target: str | None = None,
    min_replicas: int = 2,
    max_replicas: int = 10,
    current_replicas: int = 2,
    desired_replicas: int | None = None,
    cpu_target_utilization: int = 70,
    cpu_current_utilization: int = 45,
    cpu_current_millis: int | None = None,
) -> Obj:
    """An HPA scaling `target` (a Deployment) on CPU utilisation.

    When current == max and utilisation is above target the status carries the
    `ScalingLimited` condition with reason `TooManyReplicas`, as the real controller sets it.
    """
    with cluster.lock:
        now = cluster.now()
        desired = desired_replicas if desired_replicas is not None else current_replicas
        at_max = desired >= max_replicas and cpu_current_utilization > cpu_target_utilization
        since = format_time(now - timedelta(hours=2))
        conditions: list[dict[str, Any]] = [
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "ReadyForNewScale",
                "message": "recommended size matches current size",
                "lastTransitionTime": since,
            },
            {
                "type": "ScalingActive",
                "status": "True",
                "reason": "ValidMetricFound",
                "message": "the HPA was able to successfully calculate a replica count from cpu "
                "resource utilization (percentage of request)",
                "lastTransitionTime": since,
            },
            {
                "type": "ScalingLimited",
                "status": "True" if at_max else "False",
                "reason": "TooManyReplicas" if at_max else "DesiredWithinRange",
                "message": "the desired replica count is more than the maximum replica count"
                if at_max
                else "the desired count is within the acceptable range",
                "lastTransitionTime": since,
            },
        ]
        deployment = cluster.get("apps/v1", "Deployment", namespace, target or name)
        created = (
            deployment["metadata"]["creationTimestamp"] if deployment else format_time(now)
        )  # an HPA is usually set up with its workload
        current_metric: dict[str, Any] = {"averageUtilization": cpu_current_utilization}
        if cpu_current_millis is not None:
            current_metric["averageValue"] = f"{cpu_current_millis}m"
        return cluster.create(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": target or name,
                    },
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": cpu_target_utilization,
                                },
                            },
                        }
                    ],
                },
                "status": {
                    "observedGeneration": 1,
                    "lastScaleTime": format_time(now - timedelta(minutes=25)),
                    "currentReplicas": current_replicas,
                    "desiredReplicas": desired,
                    "currentMetrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "current": current_metric}}
                    ],
                    "conditions": conditions,
                },
            }
        )
