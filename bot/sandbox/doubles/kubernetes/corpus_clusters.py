"""How each corpus scenario's cluster is set up: the workload, its rollouts, pod states, events
and logs, as the story of that problem would leave them (see corpus.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.sandbox.doubles.kubernetes.autoscaling import add_hpa
from bot.sandbox.doubles.kubernetes.corpus_base import REGISTRY
from bot.sandbox.doubles.kubernetes.metrics import set_pod_usage
from bot.sandbox.doubles.kubernetes.networking import add_service, sync_endpoints
from bot.sandbox.doubles.kubernetes.pods import (
    add_logs,
    mark_crash_loop,
    mark_image_pull_backoff,
    mark_oom_killed,
    mark_readiness_failing,
)
from bot.sandbox.doubles.kubernetes.store import Cluster
from bot.sandbox.doubles.kubernetes.workloads import Revision, add_deployment, deployment_pods


def _ago(cluster: Cluster, minutes: float) -> datetime:
    return cluster.now() - timedelta(minutes=minutes)


def _names(cluster: Cluster, namespace: str, deployment: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in deployment_pods(cluster, namespace, deployment))


def _info(service: str, count: int) -> list[str]:
    return [f'INFO "GET /api/{service}/{1000 + i}" 200 {20 + i % 9}ms' for i in range(count)]


# --- the scenarios ---------------------------------------------------------------------------


def healthy(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "catalog", replicas=3,
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"},
        revisions=[
            Revision(f"{REGISTRY}/catalog:3.1.0", "deploy 3.1.0", _ago(cluster, 9 * 1440)),
            Revision(f"{REGISTRY}/catalog:3.2.0", "deploy 3.2.0", _ago(cluster, 3 * 1440)),
        ],
    )  # fmt: skip
    add_service(cluster, ns, "catalog")
    for name in _names(cluster, ns, "catalog"):
        set_pod_usage(cluster, ns, name, cpu="220m", memory="190Mi")
        add_logs(cluster, ns, name, _info("catalog", 60), interval=20)
    sync_endpoints(cluster, ns, "catalog")


def high_error_rate(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "checkout", replicas=3,
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"memory": "512Mi"},
        revisions=[
            Revision(f"{REGISTRY}/checkout:2.2.1", "deploy 2.2.1", _ago(cluster, 12 * 1440)),
            Revision(f"{REGISTRY}/checkout:2.3.0", "deploy 2.3.0", _ago(cluster, 5 * 1440)),
            Revision(f"{REGISTRY}/checkout:2.4.0", "deploy 2.4.0: payment provider v2 API",
                     _ago(cluster, 22)),
        ],
    )  # fmt: skip
    for name in _names(cluster, ns, "checkout"):
        lines = [
            'INFO "POST /api/checkout" 200 84ms'
            if i % 3 == 0
            else 'ERROR "POST /api/checkout" 500 1203ms error="payment provider: '
            'unexpected field \\"amount_minor\\" in v2 response"'
            for i in range(120)
        ]
        add_logs(cluster, ns, name, lines, interval=10)
        set_pod_usage(cluster, ns, name, cpu="140m", memory="210Mi")


def misleading_rollout(cluster: Cluster, ns: str) -> None:
    """A release went out 12 minutes ago, but the errors began 40 minutes ago: `inventory`,
    a dependency, fails, and the release (a logging library bump) is innocent."""
    add_deployment(
        cluster, ns, "cart", replicas=3,
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"memory": "512Mi"},
        revisions=[
            Revision(f"{REGISTRY}/cart:6.0.3", "deploy 6.0.3", _ago(cluster, 8 * 1440)),
            Revision(f"{REGISTRY}/cart:6.0.4", "deploy 6.0.4: bump logging library",
                     _ago(cluster, 12)),
        ],
    )  # fmt: skip
    for name in _names(cluster, ns, "cart"):
        lines = [
            'ERROR "POST /api/cart/items" 500: upstream "inventory" returned 503: '
            "service unavailable"
            if i % 2
            else 'INFO "GET /api/cart" 200 31ms'
            for i in range(70)
        ]
        add_logs(cluster, ns, name, lines, interval=10)
        set_pod_usage(cluster, ns, name, cpu="120m", memory="200Mi")


def crash_loop(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "billing-worker", replicas=2,
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
        revisions=[
            Revision(f"{REGISTRY}/billing-worker:4.1.2", "deploy 4.1.2", _ago(cluster, 6 * 1440)),
            Revision(f"{REGISTRY}/billing-worker:4.2.0", "deploy 4.2.0: new billing API",
                     _ago(cluster, 9)),
        ],
    )  # fmt: skip
    for name in _names(cluster, ns, "billing-worker"):
        mark_crash_loop(cluster, ns, name, restarts=6, exit_code=1)
        add_logs(
            cluster, ns, name,
            ["INFO starting billing-worker 4.2.0", "INFO loading configuration",
             "FATAL config: required setting BILLING_API_URL is not set", "INFO exiting (1)"],
            previous=True, end=_ago(cluster, 0.55),
        )  # fmt: skip


def memory_leak(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "ledger", replicas=3, image=f"{REGISTRY}/ledger:1.8.2",
        requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"},
    )  # fmt: skip
    for index, name in enumerate(_names(cluster, ns, "ledger")):
        mark_oom_killed(
            cluster, ns, name, restarts=3 + index, last_killed_seconds_ago=240 + 300 * index
        )
        set_pod_usage(cluster, ns, name, cpu="180m", memory=f"{470 + index * 12}Mi")
        add_logs(
            cluster, ns, name,
            [f"INFO ledger entries cached={40000 + i * 5100}" for i in range(30)]
            + ["WARN heap usage 97% of limit, GC cannot reclaim"],
            previous=True, end=_ago(cluster, 4 + 5 * index),
        )  # fmt: skip
        add_logs(cluster, ns, name, [f"INFO ledger entries cached={12000 + i * 4800}"
                                     for i in range(30)], interval=5)  # fmt: skip


def connection_pool(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "orders-api", replicas=2, image=f"{REGISTRY}/orders-api:5.1.0",
        requests={"cpu": "300m", "memory": "384Mi"}, limits={"memory": "768Mi"},
        env={"DB_POOL_SIZE": "20"},
    )  # fmt: skip
    for name in _names(cluster, ns, "orders-api"):
        lines = []
        for i in range(80):
            if i % 4 == 0:
                lines.append(f"WARN db: connection pool exhausted (20/20 in use, {40 + i} waiting)")
            elif i % 4 == 1:
                lines.append('ERROR "GET /orders" 504 timeout acquiring connection after 30000ms')
            else:
                lines.append(f'INFO "GET /orders/{1000 + i}" 200 {35 + i}ms')
        add_logs(cluster, ns, name, lines, interval=15)
        set_pod_usage(cluster, ns, name, cpu="290m", memory="350Mi")


def failing_health_checks(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "payments", replicas=2, image=f"{REGISTRY}/payments:7.2.0",
        requests={"cpu": "100m", "memory": "128Mi"},
    )  # fmt: skip
    for name in _names(cluster, ns, "payments"):
        mark_readiness_failing(
            cluster, ns, name, count=30,
            message='Get "http://10.244.1.7:8080/healthz": context deadline exceeded '
            "(Client.Timeout exceeded while awaiting headers)",
        )  # fmt: skip
        add_logs(cluster, ns, name, _info("payments", 40), interval=30)
        set_pod_usage(cluster, ns, name, cpu="60m", memory="100Mi")
    add_service(cluster, ns, "payments")
    sync_endpoints(cluster, ns, "payments")


def service_unavailable(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "storefront", replicas=2,
        requests={"cpu": "100m", "memory": "128Mi"},
        revisions=[
            Revision(f"{REGISTRY}/storefront:4.9.1", "deploy 4.9.1", _ago(cluster, 4 * 1440)),
            Revision(f"{REGISTRY}/storefront:5.0.0-rc1", "deploy 5.0.0-rc1", _ago(cluster, 8)),
        ],
    )  # fmt: skip
    for name in _names(cluster, ns, "storefront"):
        mark_image_pull_backoff(cluster, ns, name)
    add_service(cluster, ns, "storefront")
    sync_endpoints(cluster, ns, "storefront")


def high_cpu(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "search", replicas=10, image=f"{REGISTRY}/search:3.0.4",
        requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "1Gi"},
    )  # fmt: skip
    add_hpa(
        cluster, ns, "search", min_replicas=3, max_replicas=10, current_replicas=10,
        desired_replicas=10, cpu_target_utilization=70, cpu_current_utilization=96,
        cpu_current_millis=480,
    )  # fmt: skip
    for name in _names(cluster, ns, "search"):
        set_pod_usage(cluster, ns, name, cpu="480m", memory="600Mi")
        add_logs(cluster, ns, name, _info("search", 30), interval=10)


def high_latency(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "pricing", replicas=3, image=f"{REGISTRY}/pricing:2.7.0",
        requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "500m", "memory": "512Mi"},
    )  # fmt: skip
    for name in _names(cluster, ns, "pricing"):
        set_pod_usage(cluster, ns, name, cpu="498m", memory="230Mi")
        add_logs(
            cluster, ns, name,
            [f'INFO "GET /api/price/{i}" 200 {1400 + 13 * i}ms' for i in range(40)], interval=10,
        )  # fmt: skip


def redis_memory_pressure(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "redis-cache", replicas=1, image="redis:7.2.4",
        requests={"cpu": "100m", "memory": "1Gi"}, limits={"memory": "1Gi"}, port=6379,
    )  # fmt: skip
    for name in _names(cluster, ns, "redis-cache"):
        set_pod_usage(cluster, ns, name, cpu="90m", memory="1000Mi")
        add_logs(
            cluster, ns, name,
            ["1:M 22 Nov 2026 11:20:01.112 * 100 changes in 300 seconds. Saving...",
             "1:M 22 Nov 2026 11:20:01.231 * Background saving started by pid 2211",
             "2211:C 22 Nov 2026 11:20:04.001 * DB saved on disk",
             "1:M 22 Nov 2026 11:20:04.102 * Background saving terminated with success"] * 5,
            interval=60,
        )  # fmt: skip


def slow_queries(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "reports-api", replicas=2, image=f"{REGISTRY}/reports-api:3.3.1",
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"memory": "512Mi"},
    )  # fmt: skip
    for name in _names(cluster, ns, "reports-api"):
        lines = []
        for i in range(60):
            if i % 3 == 0:
                lines.append(
                    f"WARN slow query ({4100 + 37 * i}ms): SELECT * FROM orders WHERE "
                    f"customer_id = {8800 + i} ORDER BY created_at DESC"
                )
            elif i % 3 == 1:
                lines.append(
                    'ERROR "GET /reports/monthly" 500: canceling statement due to statement timeout'
                )
            else:
                lines.append(f'INFO "GET /reports/{i}" 200 {2900 + i}ms')
        add_logs(cluster, ns, name, lines, interval=20)
        set_pod_usage(cluster, ns, name, cpu="90m", memory="200Mi")


def upstream_rate_limiting(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "notifier", replicas=2, image=f"{REGISTRY}/notifier:1.4.0",
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
    )  # fmt: skip
    for name in _names(cluster, ns, "notifier"):
        lines = []
        for i in range(60):
            if i % 2:
                lines.append(
                    "WARN payments-api answered 429 Too Many Requests (Retry-After: 30s), "
                    f"attempt {i % 4 + 1}"
                )
            else:
                lines.append(f"ERROR charge {7000 + i} failed: payments-api rate limit exceeded")
        add_logs(cluster, ns, name, lines, interval=10)
        set_pod_usage(cluster, ns, name, cpu="70m", memory="120Mi")


def cascade_failure(cluster: Cluster, ns: str) -> None:
    add_deployment(
        cluster, ns, "frontend", replicas=3, image=f"{REGISTRY}/frontend:9.0.1",
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"memory": "512Mi"},
    )  # fmt: skip
    for name in _names(cluster, ns, "frontend"):
        lines = []
        for i in range(90):
            if i % 3 == 0:
                lines.append('WARN circuit breaker open for "task-service" (50 failures in 10s)')
            elif i % 3 == 1:
                lines.append(
                    'ERROR "GET /dashboard" 502: upstream "task-service" returned 503: '
                    "no healthy upstream"
                )
            else:
                lines.append('INFO "GET /" 200 12ms')
        add_logs(cluster, ns, name, lines, interval=10)
        set_pod_usage(cluster, ns, name, cpu="150m", memory="220Mi")
