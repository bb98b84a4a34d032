"""Ready-made incident scenarios: one namespace full of common production problems."""

from __future__ import annotations

from datetime import timedelta

from bot.sandbox.doubles.kubernetes.autoscaling import add_hpa
from bot.sandbox.doubles.kubernetes.events import add_event
from bot.sandbox.doubles.kubernetes.metrics import add_node, set_pod_usage
from bot.sandbox.doubles.kubernetes.networking import add_service, sync_endpoints
from bot.sandbox.doubles.kubernetes.pods import add_logs, mark_oom_killed, mark_readiness_failing
from bot.sandbox.doubles.kubernetes.store import Cluster
from bot.sandbox.doubles.kubernetes.workloads import Revision, add_deployment, deployment_pods

ORION_PROD = "orion-prod"
REGISTRY = "registry.orion.example.com"


def orion_prod(cluster: Cluster, namespace: str = ORION_PROD) -> Cluster:
    """Populate `namespace` with:

    - `task-service`: leaking memory; pods OOMKilled (exit 137) and restarting, usage near limit.
    - `checkout`: revision 3 (`checkout:2.4.0`) raised the error rate; logs full of HTTP 500s.
    - `orders-api`: database connection pool exhausted; timeouts in logs.
    - `search`: HPA pinned at maxReplicas with CPU above target.
    - `payments`: a Service whose endpoints are not ready (readiness probe failing).
    """
    with cluster.lock:
        now = cluster.now()
        add_node(cluster, "node-1")
        add_node(cluster, "node-2", usage_cpu="3100m", usage_memory="13Gi")

        add_deployment(
            cluster,
            namespace,
            "task-service",
            replicas=3,
            image=f"{REGISTRY}/task-service:1.8.2",
            requests={"cpu": "250m", "memory": "256Mi"},
            limits={"cpu": "1", "memory": "512Mi"},
        )
        for index, pod in enumerate(deployment_pods(cluster, namespace, "task-service")):
            name = pod["metadata"]["name"]
            mark_oom_killed(
                cluster,
                namespace,
                name,
                restarts=4 + index,
                last_killed_seconds_ago=90 + 60 * index,
            )
            set_pod_usage(cluster, namespace, name, cpu="180m", memory=f"{480 + index * 9}Mi")
            add_logs(
                cluster,
                namespace,
                name,
                [
                    f"INFO task queue depth={1200 + i * 37} cache_entries={40000 + i * 5100}"
                    for i in range(20)
                ]
                + ["WARN heap usage 97% of limit, GC cannot reclaim"],
                previous=True,
                end=now - timedelta(seconds=91 + 60 * index),
            )
            add_logs(
                cluster,
                namespace,
                name,
                [
                    f"INFO task queue depth={900 + i * 41} cache_entries={12000 + i * 4800}"
                    for i in range(30)
                ],
            )
            add_event(
                cluster,
                cluster.require("v1", "Pod", namespace, name),
                "BackOff",
                f"Back-off restarting failed container task-service in pod {name}",
                type_="Warning",
                count=4 + index,
            )

        add_deployment(
            cluster,
            namespace,
            "checkout",
            replicas=3,
            requests={"cpu": "200m", "memory": "256Mi"},
            limits={"memory": "512Mi"},
            revisions=[
                Revision(f"{REGISTRY}/checkout:2.2.1", "deploy 2.2.1", now - timedelta(days=12)),
                Revision(
                    f"{REGISTRY}/checkout:2.3.0",
                    "deploy 2.3.0: new tax service client",
                    now - timedelta(days=5),
                ),
                Revision(
                    f"{REGISTRY}/checkout:2.4.0",
                    "deploy 2.4.0: payment provider v2 API",
                    now - timedelta(minutes=22),
                ),
            ],
        )
        add_service(cluster, namespace, "checkout")
        for pod in deployment_pods(cluster, namespace, "checkout"):
            name = pod["metadata"]["name"]
            lines = []
            for i in range(60):
                if i % 3 == 0:
                    lines.append('INFO "POST /api/checkout" 200 84ms')
                else:
                    lines.append(
                        'ERROR "POST /api/checkout" 500 1203ms error="payment provider: '
                        'unexpected field \\"amount_minor\\" in v2 response"'
                    )
            add_logs(cluster, namespace, name, lines, interval=5)
            set_pod_usage(cluster, namespace, name, cpu="140m", memory="210Mi")

        add_deployment(
            cluster,
            namespace,
            "orders-api",
            replicas=2,
            image=f"{REGISTRY}/orders-api:5.1.0",
            requests={"cpu": "300m", "memory": "384Mi"},
            limits={"memory": "768Mi"},
            env={"DB_POOL_SIZE": "20", "DB_HOST": "orders-db.orion-prod.svc"},
        )
        add_service(cluster, namespace, "orders-api")
        for pod in deployment_pods(cluster, namespace, "orders-api"):
            name = pod["metadata"]["name"]
            lines = []
            for i in range(40):
                if i % 4 == 0:
                    lines.append("WARN db: connection pool exhausted (20/20 in use, 57 waiting)")
                elif i % 4 == 1:
                    lines.append(
                        'ERROR "GET /orders" 504 timeout acquiring connection after 30000ms'
                    )
                else:
                    lines.append(f'INFO "GET /orders/{1000 + i}" 200 {35 + i}ms')
            add_logs(cluster, namespace, name, lines, interval=2)
            set_pod_usage(cluster, namespace, name, cpu="290m", memory="350Mi")

        add_deployment(
            cluster,
            namespace,
            "search",
            replicas=10,
            image=f"{REGISTRY}/search:3.0.4",
            requests={"cpu": "500m", "memory": "512Mi"},
            limits={"memory": "1Gi"},
        )
        add_hpa(
            cluster,
            namespace,
            "search",
            min_replicas=3,
            max_replicas=10,
            current_replicas=10,
            desired_replicas=10,
            cpu_target_utilization=70,
            cpu_current_utilization=96,
            cpu_current_millis=480,
        )
        for pod in deployment_pods(cluster, namespace, "search"):
            set_pod_usage(cluster, namespace, pod["metadata"]["name"], cpu="480m", memory="600Mi")

        add_deployment(
            cluster,
            namespace,
            "payments",
            replicas=2,
            image=f"{REGISTRY}/payments:7.2.0",
            requests={"cpu": "100m", "memory": "128Mi"},
        )
        for pod in deployment_pods(cluster, namespace, "payments"):
            mark_readiness_failing(
                cluster,
                namespace,
                pod["metadata"]["name"],
                message='Get "http://10.244.1.7:8080/healthz": context '
                "deadline exceeded (Client.Timeout exceeded while awaiting "
                "headers)",
            )
        add_service(cluster, namespace, "payments")
        sync_endpoints(cluster, namespace, "payments")
        return cluster
