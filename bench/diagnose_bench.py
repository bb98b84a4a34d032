"""`diagnose` on a 50-pod deployment with 30 ms added to every API call, beside the same reads
made one after another, beside the reads of the command-by-command runbook, and beside each read
alone (the slowest single call).

    python -m bench.diagnose_bench [--pods 50] [--latency-ms 30] [--rounds 20] [--smoke]

In a server process, as real servers are: the Kubernetes double (bot/sandbox/doubles/kubernetes, its
orion-prod scenario plus a `bulk-worker` deployment of `--pods` replicas) with its latency fault
on every request, and a local Prometheus HTTP API (`/api/v1/query`) with the same latency added.
The bot side is Fireline's gateways: the official `kubernetes` client (each call pays its
worker-thread hop) and httpx for Prometheus.

What each side does — the same seven reads (`diagnose` also runs the error-rate query):

- diagnose: all seven at once, then assembly and rendering of the report.
- same work, one after another: `diagnose`'s own reads (the namespace's pods, events, metrics,
  ReplicaSets and HPAs, the deployment, the error-rate query) in sequence, then the same
  assembly and rendering. Only concurrency differs.
- runbook: what a responder types for the same facts, one read per command, in order:
  `kubectl get deploy`, `get pods -l`, `get events`, `top pods -l`, `rollout history`
  (its ReplicaSet list), `get hpa`, then the error-rate PromQL query. Reads only: kubectl's
  printing and the human in between are not counted, nor the reads `diagnose` does not make
  (`describe` and `logs` of the failing pods), so this side is the cheapest honest reading.

Targets: diagnose ≥ 5× faster than the sequential reads, and within 1.5× the slowest single call.
Checked in every run: each diagnosis reads every pod of the deployment and the error rate, with
no failed read. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import httpx
from aiohttp import web

from bench._support import add_smoke_flag, check
from bot.actions.kubernetes import match_labels_selector
from bot.clock import SystemClock
from bot.diagnostics.actions.diagnose import ERROR_RATE_QUERY, Diagnose, Diagnosis
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.policy.authorizer import Authorizer
from bot.policy.models import Prometheus
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    add_deployment,
    api_client,
    deployment_pods,
    orion_prod,
    set_pod_usage,
)
from tests.diagnostics.conftest import COMMANDER, make_policy

NS, DEPLOYMENT_50 = "orion-prod", "bulk-worker"


async def timed(work: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def prometheus_api(latency_s: float) -> web.Application:
    """Prometheus's instant-query API: one series per service, the latency added to each call."""

    async def query(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_s)
        at = float(request.query.get("time") or time.time())
        result = [
            {"metric": {"service": DEPLOYMENT_50}, "value": [at, "7.2"]},
            {"metric": {"service": "checkout"}, "value": [at, "0.4"]},
        ]
        data = {"resultType": "vector", "result": result}
        return web.json_response({"status": "success", "data": data})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    return app


def serve(
    pods: int, latency_ms: float, scenario: bool, urls: Queue[tuple[str, str]], stop: Event
) -> None:
    """The Kubernetes double (orion-prod plus a `pods`-replica deployment) and the Prometheus
    API, each request delayed by `latency_ms`; in their own process, as API servers are."""
    cluster = Cluster()
    if scenario:
        orion_prod(cluster)
    add_deployment(
        cluster, NS, DEPLOYMENT_50, replicas=pods, image="registry/big:1",
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
    )  # fmt: skip
    for pod in deployment_pods(cluster, NS, DEPLOYMENT_50):
        set_pod_usage(cluster, NS, pod["metadata"]["name"], cpu="50m", memory="200Mi")

    async def run() -> None:
        runner = web.AppRunner(prometheus_api(latency_ms / 1000), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        with KubernetesDouble(cluster) as double:
            double.faults.set_latency(latency_ms / 1000)
            urls.put((double.base_url, f"http://127.0.0.1:{port}"))
            await asyncio.to_thread(stop.wait)
        await runner.cleanup()

    asyncio.run(run())


async def main(pods: int, latency_ms: float, rounds: int, scenario: bool) -> None:
    urls: Queue[tuple[str, str]] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(target=serve, args=(pods, latency_ms, scenario, urls, stop))
    process.start()
    try:
        kube_url, prometheus_url = urls.get(timeout=30)
        await measure(kube_url, prometheus_url, pods, latency_ms, rounds)
    finally:
        stop.set()
        process.join(5)


async def measure(
    kube_url: str, prometheus_url: str, pods: int, latency_ms: float, rounds: int
) -> None:
    kube = KubeGateway(api_client(kube_url))
    http = httpx.AsyncClient()
    prometheus = PrometheusGateway(http, prometheus_url, timeout_s=5)
    policy = make_policy(prometheus=Prometheus(url=prometheus_url))

    async def no_groups(_: str) -> list[str]:
        return []

    authorizer = Authorizer(policy, no_groups)
    service = DiagnosticsService(
        (Diagnose(),), authorizer, None, None, SystemClock(),  # type: ignore[arg-type]
        Gateways(lambda _: kube, prometheus, HealthChecker(http), DatabaseGateway()),
        timeout_s=30,
    )  # fmt: skip
    action = Diagnose()
    params = action.parse(DEPLOYMENT_50)
    ctx = service.context(COMMANDER, None)
    roles = await authorizer.check(COMMANDER, "diagnose", [])
    ctx.permitted = authorizer.permitted(roles, ["pods", "events", "top", "rollout-history",
                                                 "hpa", "query"])  # fmt: skip
    ctx.reaches = lambda scope: authorizer.reaches(roles, scope)
    scopes = action.scopes(params, ctx)
    assert policy.prometheus is not None
    promql = policy.prometheus.queries[ERROR_RATE_QUERY].promql.replace("$service", DEPLOYMENT_50)

    async def diagnose() -> None:
        findings = await action.execute(params, ctx, scopes)
        check(not findings.failures, f"diagnose failed to read: {findings.failures}")
        check(findings.error_rate is not None, "diagnose read no error rate")
        check(len(findings.pods) == pods, f"diagnose saw {len(findings.pods)} of {pods} pods")
        action.render(params, findings, ctx)

    deployment = await kube.get_deployment(NS, DEPLOYMENT_50)
    selector = match_labels_selector(deployment)
    # diagnose's own reads (namespace-wide lists, filtered locally) ...
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "get deployment": lambda: kube.get_deployment(NS, DEPLOYMENT_50),
        "list pods (ns)": lambda: kube.list_pods(NS),
        "list events (ns)": lambda: kube.list_events(NS),
        "pod metrics (ns)": lambda: kube.pod_metrics(NS),
        "replicasets (ns)": lambda: kube.list_replicasets(NS, None),
        "list hpas (ns)": lambda: kube.list_hpas(NS),
        "error-rate query": lambda: prometheus.query(promql, datetime.now(UTC)),
    }
    # ... and the runbook's, one command each.
    runbook: list[Callable[[], Awaitable[Any]]] = [
        lambda: kube.get_deployment(NS, DEPLOYMENT_50),  # kubectl get deploy
        lambda: kube.list_pods(NS, selector),  # kubectl get pods -l
        lambda: kube.list_events(NS),  # kubectl get events
        lambda: kube.pod_metrics(NS, selector),  # kubectl top pods -l
        lambda: kube.list_replicasets(NS, selector),  # kubectl rollout history
        lambda: kube.list_hpas(NS),  # kubectl get hpa
        lambda: prometheus.query(promql, datetime.now(UTC)),  # the error-rate PromQL
    ]

    async def sequential_same_work() -> None:
        dep, pods_, events, metrics, sets, hpas, rate = [await read() for read in reads.values()]
        diagnosis = Diagnosis(dep)
        action._assemble(diagnosis, params, ctx, pods_, events, metrics, sets, hpas)
        diagnosis.error_rate = max((s.last or 0.0) for s in rate)
        action.render(params, diagnosis, ctx)

    async def sequential_runbook() -> None:
        for read in runbook:
            await read()

    await diagnose()  # warm-up: connections, threads
    await sequential_same_work()
    await sequential_runbook()
    single = {name: statistics.median(await timed(read, rounds)) for name, read in reads.items()}
    concurrent = await timed(diagnose, rounds)
    same = await timed(sequential_same_work, rounds)
    typed = await timed(sequential_runbook, rounds)
    await http.aclose()

    d, s, r = statistics.median(concurrent), statistics.median(same), statistics.median(typed)
    slowest_name, slowest = max(single.items(), key=lambda kv: kv[1])
    switch = sys.getswitchinterval() * 1000
    cpus = len(os.sched_getaffinity(0))
    print(f"pods={pods} latency={latency_ms:g} ms rounds={rounds} switch={switch:g} ms "
          f"cpus={cpus} load={os.getloadavg()[0]:.2f} (medians)")  # fmt: skip
    for name, ms in single.items():
        print(f"  single {name:<18} {ms:7.1f} ms")
    print(f"  diagnose (concurrent)     {d:7.1f} ms   p90 {_p90(concurrent):7.1f} ms")
    print(f"  same work, in sequence    {s:7.1f} ms   p90 {_p90(same):7.1f} ms")
    print(f"  runbook reads, in order   {r:7.1f} ms   p90 {_p90(typed):7.1f} ms")
    print(f"  speed-up, same work       {s / d:7.2f}×  (target ≥ 5×; 7 reads: ceiling 7×)")
    print(f"  speed-up vs runbook       {r / d:7.2f}×")
    print(f"  vs slowest single call    {d / slowest:7.2f}×  ({slowest_name}; target ≤ 1.5×)")


def _p90(samples: list[float]) -> float:
    """Nearest-rank: the smallest sample with at least 90 % of them at or below it."""
    return sorted(samples)[max(0, math.ceil(len(samples) * 0.9) - 1)]


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--no-scenario", action="store_true", help="only the bulk deployment, not orion-prod"
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="sys.setswitchinterval for this run (Python's default is 5 ms)",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.pods, args.latency_ms, args.rounds = 5, 1.0, 2
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    asyncio.run(main(args.pods, args.latency_ms, args.rounds, not args.no_scenario))


if __name__ == "__main__":
    cli()
