"""orion-prod as a living cluster: the sandbox's scenario, told by behaviours on a clock.

The same five problems as `scenarios.orion_prod` (which stays frozen for the tests written
against it), but each one is the consequence of how an image behaves, so it evolves and answers
remediation as a cluster would:

- `task-service` leaks memory: each container climbs to its 512Mi limit in ~14 minutes and is
  OOM-killed (exit 137), restarts after a back-off, and climbs again. A restart buys time.
- `checkout` revision 3 (`checkout:2.4.0`) fails two requests in three with HTTP 500 since its
  rollout 22 minutes ago; revision 2 (`2.3.0`) served cleanly for five days before. Rolling
  back replaces the failing pods and the errors stop.
- `orders-api`'s 20-connection pool per pod cannot hold the ~53 requests waiting on the
  database at once: requests wait, time out (504) and the pool-exhausted warnings repeat.
  A third pod gives the pool room and the timeouts stop.
- `search` runs at its HPA's maximum, its CPU above target.
- `payments`' readiness probe times out (a dependency does not answer): no ready endpoints.

Three nodes (4 CPU, 16Gi); the scheduler spreads the pods within their allocatable and each
node's usage is the sum of its pods'.
"""

from __future__ import annotations

from datetime import timedelta

from bot.sandbox.doubles.kubernetes.autoscaling import add_hpa
from bot.sandbox.doubles.kubernetes.behaviour import Behaviour
from bot.sandbox.doubles.kubernetes.clock import parse_time
from bot.sandbox.doubles.kubernetes.controller import reconcile
from bot.sandbox.doubles.kubernetes.life import Life, memory_limit
from bot.sandbox.doubles.kubernetes.metrics import add_node
from bot.sandbox.doubles.kubernetes.networking import add_service
from bot.sandbox.doubles.kubernetes.scenarios import ORION_PROD, REGISTRY
from bot.sandbox.doubles.kubernetes.store import Cluster
from bot.sandbox.doubles.kubernetes.workloads import Revision, add_deployment, deployment_pods

NODES = ("node-1", "node-2", "node-3")
CHECKOUT_OK = 'INFO "POST /api/checkout" 200 {ms}ms'
CHECKOUT = Behaviour(ok=CHECKOUT_OK, interval_s=5, rps=30, latency_s=0.09, cpu_m=140, pods=3)
CHECKOUT_BROKEN = Behaviour(
    ok=CHECKOUT_OK,
    error='ERROR "POST /api/checkout" 500 {ms}ms error="payment provider: '
    'unexpected field \\"amount_minor\\" in v2 response"',
    error_ratio=0.66,
    interval_s=5,
    rps=30,
    latency_s=0.09,
    error_latency_s=1.2,
    cpu_m=140,
    pods=3,
    memory_mi=210,
)
TASK_SERVICE = Behaviour(
    ok="INFO task queue depth={depth} cache_entries={entries}",
    warn="WARN heap usage {heap}% of limit, GC cannot reclaim",
    interval_s=3,
    rps=15,
    cpu_m=180,
    pods=3,
    memory_mi=180,
    leak_mi_per_min=24,
)
ORDERS_API = Behaviour(
    ok='INFO "GET /orders/{id}" 200 {ms}ms',
    error='ERROR "GET /orders" 504 timeout acquiring connection after 30000ms',
    warn="WARN db: connection pool exhausted ({pool}/{pool} in use, {waiting} waiting)",
    interval_s=2,
    rps=45,
    latency_s=0.045,
    error_latency_s=30.0,
    cpu_m=290,
    pods=2,
    memory_mi=350,
    pool=20,
    concurrency=53,
)
SEARCH = Behaviour(
    ok='INFO "GET /search" 200 {ms}ms hits={id}',
    interval_s=4,
    rps=220,
    latency_s=0.12,
    cpu_m=480,
    pods=10,
    memory_mi=600,
)
PAYMENTS = Behaviour(
    ok="WARN healthz: bank-gateway did not answer within 1000ms",
    error='ERROR bank-gateway: context deadline exceeded (Client.Timeout exceeded while "POST '
    '/v1/authorise")',
    error_ratio=0.5,
    interval_s=10,
    rps=12,
    cpu_m=40,
    pods=2,
    memory_mi=140,
    ready=False,
    probe_message='Get "http://{pod_ip}:8080/healthz": context deadline exceeded '
    "(Client.Timeout exceeded while awaiting headers)",
)


def living_orion_prod(cluster: Cluster, namespace: str = ORION_PROD, seed: int = 7) -> Cluster:
    """Populate `namespace` with the living scenario (attaches a `Life` to the cluster)."""
    life = cluster.life = Life(seed, ready_after_s=cluster.timing.pod_ready)
    with cluster.lock:
        now = cluster.now()
        for node in NODES:
            add_node(cluster, node, usage_cpu=None)
        task = f"{REGISTRY}/task-service:1.8.2"
        life.behave(task, TASK_SERVICE)
        add_deployment(
            cluster,
            namespace,
            "task-service",
            replicas=3,
            image=task,
            requests={"cpu": "250m", "memory": "256Mi"},
            limits={"cpu": "1", "memory": "512Mi"},
        )

        revisions = [
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
        ]
        for revision in revisions[:2]:
            life.behave(revision.image, CHECKOUT)
        life.behave(revisions[2].image, CHECKOUT_BROKEN)
        add_deployment(
            cluster,
            namespace,
            "checkout",
            replicas=3,
            revisions=revisions,
            requests={"cpu": "200m", "memory": "256Mi"},
            limits={"memory": "512Mi"},
        )
        add_service(cluster, namespace, "checkout")

        orders = f"{REGISTRY}/orders-api:5.1.0"
        life.behave(orders, ORDERS_API)
        add_deployment(
            cluster,
            namespace,
            "orders-api",
            replicas=2,
            image=orders,
            requests={"cpu": "300m", "memory": "384Mi"},
            limits={"memory": "768Mi"},
            env={"DB_POOL_SIZE": "20", "DB_HOST": "orders-db.orion-prod.svc"},
        )
        add_service(cluster, namespace, "orders-api")

        search = f"{REGISTRY}/search:3.0.4"
        life.behave(search, SEARCH)
        add_deployment(
            cluster,
            namespace,
            "search",
            replicas=10,
            image=search,
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

        payments = f"{REGISTRY}/payments:7.2.0"
        life.behave(payments, PAYMENTS)
        add_deployment(
            cluster,
            namespace,
            "payments",
            replicas=2,
            image=payments,
            requests={"cpu": "100m", "memory": "128Mi"},
        )
        add_service(cluster, namespace, "payments")

        _earlier(cluster, life, namespace, revisions)
        reconcile(cluster)
        life.primed = True
        return cluster


def _earlier(cluster: Cluster, life: Life, namespace: str, revisions: list[Revision]) -> None:
    """What served each service before the pods running now: the same image for three days,
    except checkout, whose revision 2 served for five days until revision 3 rolled out."""
    now = cluster.now()
    for name in ("task-service", "checkout", "orders-api", "search", "payments"):
        pods = deployment_pods(cluster, namespace, name)
        image = pods[0]["spec"]["containers"][0]["image"]
        since = now - timedelta(days=3)
        if name == "checkout":
            image, since = revisions[1].image, revisions[1].at or since
        # the earlier pods served until the ones running now were Ready (a rolling update)
        until = min(parse_time(p["metadata"]["creationTimestamp"]) for p in pods) + life.ready_after
        limit = memory_limit(pods[0]["spec"]["containers"][0])
        life.history(namespace, name, image, len(pods), since, until, limit)
