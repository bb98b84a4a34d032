"""The kubelet: pods become Ready, and terminating pods go, when their timers fall due."""

from __future__ import annotations

from datetime import datetime

from bot.sandbox.doubles.kubernetes.pods import set_ready
from bot.sandbox.doubles.kubernetes.store import Cluster


def run_kubelet(cluster: Cluster, now: datetime) -> None:
    for (namespace, name), when in list(cluster.pod_gone_at.items()):
        if when <= now:
            del cluster.pod_gone_at[(namespace, name)]
            if cluster.get("v1", "Pod", namespace, name) is not None:
                cluster.delete("v1", "Pod", namespace, name)
    for (namespace, name), when in list(cluster.pod_ready_at.items()):
        if when <= now:
            del cluster.pod_ready_at[(namespace, name)]
            pod = cluster.get("v1", "Pod", namespace, name)
            if pod is not None:
                set_ready(pod, True, now)
                cluster.update(pod)
