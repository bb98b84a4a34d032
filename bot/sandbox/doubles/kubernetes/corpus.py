"""A corpus of incidents for judging `diagnose`: one per seed playbook, a healthy control and a
misleading one, each with the cause a competent SRE would name.

Each `Scenario` builds one deployment in its own namespace (`orion-<short name>`) with the
double's builders — pods and their container states, events, usage, rollout history with
times, autoscaler, logs with timestamps — and says what Prometheus shows for it over the last
hour (`signals`: the error rate in %, the p95 latency in seconds, as steps). `expect` lists the
phrases the first line of a good diagnosis contains, `forbid` those it must not (the misleading
scenario's innocent rollout). The scenarios are the test of the rules
(tests/diagnostics/test_corpus.py) and the benchmark of their accuracy
(bench/diagnose_accuracy.py); they are not tuned to the rules: each is written as the incident
looks, from the playbook's own summary.
"""

from __future__ import annotations

from bot.sandbox.doubles.kubernetes.corpus_base import (
    QUIET_ERRORS,
    QUIET_LATENCY,
    Scenario,
    value_at,
)
from bot.sandbox.doubles.kubernetes.corpus_clusters import (
    cascade_failure,
    connection_pool,
    crash_loop,
    failing_health_checks,
    healthy,
    high_cpu,
    high_error_rate,
    high_latency,
    memory_leak,
    misleading_rollout,
    redis_memory_pressure,
    service_unavailable,
    slow_queries,
    upstream_rate_limiting,
)
from bot.sandbox.doubles.kubernetes.metrics import add_node
from bot.sandbox.doubles.kubernetes.store import Cluster

__all__ = ["SCENARIOS", "Scenario", "build_corpus", "value_at"]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "healthy",
        None,
        "catalog",
        "nothing is wrong",
        ("nothing wrong found",),
        healthy,
        {"error-rate": QUIET_ERRORS, "p95-latency": QUIET_LATENCY},
    ),
    Scenario(
        "high-error-rate",
        "high-error-rate",
        "checkout",
        'rev 3 (payment provider v2) broke checkout: `unexpected field "amount_minor"`',
        ("errors since rev 3", "amount_minor"),
        high_error_rate,
        {"error-rate": ((60, 0.3), (21, 38.0)), "p95-latency": QUIET_LATENCY},
    ),
    Scenario(
        "misleading-rollout",
        None,
        "cart",
        "the `inventory` dependency fails (503) since 40 min; rev 2 (12 min ago) is innocent",
        ("inventory", "before rev 2"),
        misleading_rollout,
        {"error-rate": ((60, 0.2), (40, 24.0)), "p95-latency": QUIET_LATENCY},
        forbid=("errors since rev",),
    ),
    Scenario(
        "crash-loop",
        "crash-loop",
        "billing-worker",
        "rev 4 crashes at start: BILLING_API_URL is not set",
        ("crashloopbackoff", "billing_api_url"),
        crash_loop,
    ),
    Scenario(
        "memory-leak",
        "memory-leak",
        "ledger",
        "memory leak: OOMKilled repeatedly, memory near its 512Mi limit",
        ("oomkilled", "512mi limit"),
        memory_leak,
        {"error-rate": QUIET_ERRORS, "p95-latency": QUIET_LATENCY},
    ),
    Scenario(
        "connection-pool",
        "db-connection-pool-exhaustion",
        "orders-api",
        "the database connection pool is exhausted (20/20 in use)",
        ("connection pool exhausted",),
        connection_pool,
        {"error-rate": ((60, 0.1), (30, 9.0)), "p95-latency": ((60, 0.08), (30, 30.0))},
    ),
    Scenario(
        "failing-health-checks",
        "failing-health-checks",
        "payments",
        "the readiness probe (/healthz) times out on every pod",
        ("readiness probe failing", "healthz"),
        failing_health_checks,
    ),
    Scenario(
        "service-unavailable",
        "service-unavailable",
        "storefront",
        "rev 5's image storefront:5.0.0-rc1 does not exist: no pod can start, the service has no "
        "endpoints",
        ("cannot be pulled", "storefront:5.0.0-rc1"),
        service_unavailable,
    ),
    Scenario(
        "high-cpu",
        "high-cpu",
        "search",
        "load beyond capacity: the HPA is pinned at its max with CPU above target",
        ("hpa", "pinned at its max"),
        high_cpu,
        {"error-rate": QUIET_ERRORS, "p95-latency": ((60, 0.1), (25, 0.9))},
    ),
    Scenario(
        "high-latency",
        "high-latency",
        "pricing",
        "CPU throttling: every pod at its 500m CPU limit",
        ("cpu at", "500m limit"),
        high_latency,
        {"error-rate": QUIET_ERRORS, "p95-latency": ((60, 0.12), (25, 1.8))},
    ),
    Scenario(
        "redis-memory-pressure",
        "redis-memory-pressure",
        "redis-cache",
        "the cache is at its memory limit (1Gi)",
        ("memory at", "1gi limit"),
        redis_memory_pressure,
    ),
    Scenario(
        "slow-database-queries",
        "slow-database-queries",
        "reports-api",
        "slow queries on `orders` (full scans by customer_id)",
        ("slow database queries", "from orders"),
        slow_queries,
        {"error-rate": ((60, 0.1), (30, 4.0)), "p95-latency": ((60, 0.2), (30, 4.5))},
    ),
    Scenario(
        "upstream-rate-limiting",
        "upstream-rate-limiting",
        "notifier",
        "payments-api rate-limits us (429)",
        ("rate limiting", "payments-api"),
        upstream_rate_limiting,
    ),
    Scenario(
        "cascade-failure",
        "cascade-failure",
        "frontend",
        "its dependency task-service fails (503, circuit open): the cascade's origin",
        ("dependency failing", "task-service"),
        cascade_failure,
        {"error-rate": ((60, 0.2), (15, 31.0)), "p95-latency": QUIET_LATENCY},
    ),
)


def build_corpus(cluster: Cluster, scenarios: tuple[Scenario, ...] = SCENARIOS) -> Cluster:
    """Every scenario in its own namespace of one cluster."""
    with cluster.lock:
        add_node(cluster, "node-1")
        for scenario in scenarios:
            scenario.build(cluster, scenario.namespace)
    return cluster
