"""The diagnostics' exact fixture, built on the Kubernetes double (bot/sandbox/doubles/kubernetes).

`task-service` in `orion-prod`: 3 of 5 pods ready, 2 OOMKilled 10–11 minutes ago (one also
failing its readiness probe ×7, one in back-off ×15), revision 3 (image task:42) rolled out
12 minutes before the incident (which starts at NOW), one container at 98 % of its memory
limit, its HPA pinned at max, logs with 20 grouped `db timeout` errors and secrets to redact.
`orion-api` runs one pod beside it. Every object is the double's own (served over real HTTP,
schema-valid); only the numbers are chosen so that the tests can assert exact text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sandbox.doubles.kubernetes import (
    Cluster,
    ManualClock,
    Revision,
    Timing,
    add_deployment,
    add_event,
    add_hpa,
    add_logs,
    add_node,
    add_service,
    deployment_pods,
    mark_oom_killed,
    mark_readiness_failing,
    set_pod_usage,
    sync_endpoints,
)
from bot.sandbox.doubles.kubernetes.pods import set_ready

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NS = "orion-prod"
SECRETS_LINE = (
    "ERROR upstream failed: Authorization: Bearer abc.def.ghi password=hunter2 "
    "url=postgres://app:s3cretpw@db:5432/x api_key=AKIAABCDEFGHIJKLMNOP"
)


def new_cluster() -> Cluster:
    """A cluster on a clock frozen at NOW (the controllers act at once)."""
    return Cluster(ManualClock(NOW), timing=Timing(rollout_step=0.02, pod_ready=0.02))


def task_service_incident(cluster: Cluster, pods: int = 5) -> list[str]:
    """Build the scenario; returns task-service's pod names, the two failing ones first."""

    def ago(minutes: float) -> datetime:
        return NOW - timedelta(minutes=minutes)

    with cluster.lock:
        add_node(cluster, "node-1")
        add_deployment(
            cluster, NS, "task-service", replicas=pods,
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
            revisions=[
                Revision("registry.example.com/task:40", "release 40", ago(3000)),
                Revision("registry.example.com/task:41", "release 41", ago(1500)),
                Revision("registry.example.com/task:42", "release 42: new cache", ago(12)),
            ],
        )  # fmt: skip
        add_deployment(cluster, NS, "orion-api", replicas=1, image="registry.example.com/api:7")
        names = task_service_pods(cluster)
        for index, name in enumerate(names):
            memory = "250Mi" if index == 0 else "100Mi"
            set_pod_usage(cluster, NS, name, cpu="120m", memory=memory)
        down, probing = names[0], names[1]
        mark_oom_killed(cluster, NS, down, restarts=4, last_killed_seconds_ago=600)
        mark_oom_killed(cluster, NS, probing, restarts=5, last_killed_seconds_ago=660)
        pod = cluster.require("v1", "Pod", NS, down)
        set_ready(pod, False, NOW)
        cluster.update(pod)
        mark_readiness_failing(cluster, NS, probing, count=7)
        pod = cluster.require("v1", "Pod", NS, down)
        backoff = "Back-off restarting failed container task-service"
        add_event(cluster, pod, "BackOff", backoff, type_="Warning", count=12)
        add_event(cluster, pod, "BackOff", backoff, type_="Warning", count=3, last=ago(4))
        deployment = cluster.require("apps/v1", "Deployment", NS, "task-service")
        add_event(
            cluster, deployment, "ScalingReplicaSet",
            "Scaled up replica set task-service to 5", component="deployment-controller",
            last=ago(12),
        )  # fmt: skip
        add_hpa(
            cluster, NS, "task-service", min_replicas=2, max_replicas=5, current_replicas=5,
            cpu_target_utilization=70, cpu_current_utilization=93,
        )  # fmt: skip
        add_service(cluster, NS, "task-service")
        sync_endpoints(cluster, NS, "task-service")
        add_logs(cluster, NS, down, [f"INFO request id={1000 + i} ok" for i in range(30)],
                 end=ago(1.5))  # fmt: skip
        add_logs(
            cluster, NS, down,
            [f"ERROR db timeout after {100 + i}ms conn=10.1.2.{i} req=4f9c2a{i:06x}"
             for i in range(20)],
            end=NOW - timedelta(seconds=41),
        )  # fmt: skip
        add_logs(
            cluster, NS, down,
            [SECRETS_LINE, "-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7",
             "-----END RSA PRIVATE KEY-----"],
            end=NOW - timedelta(seconds=1),
        )  # fmt: skip
        add_logs(cluster, NS, probing, ["FATAL out of memory"], end=ago(2))
        add_logs(cluster, NS, down, ["panic: boom"], previous=True, end=ago(11))
    return names


def task_service_pods(cluster: Cluster) -> list[str]:
    """task-service's pod names, sorted: the first two are the failing ones."""
    return sorted(p["metadata"]["name"] for p in deployment_pods(cluster, NS, "task-service"))
