"""`diagnose` on a 50-pod deployment with 30 ms added to every Kubernetes API call, beside the
same reads done one after another, and beside each read alone (the slowest single call).

    python -m bench.diagnose_bench [--pods 50] [--latency-ms 30] [--rounds 20]

The Kubernetes double (bot/emulator/kubernetes, its orion-prod scenario plus a `bulk-worker`
deployment of `--pods` replicas) serves real HTTP on 127.0.0.1 from its own process, as a real
API server would, with its latency fault on every request, to the official `kubernetes` client
through Fireline's gateway (so every call also pays its worker-thread hop). Targets: diagnose ≥ 5×
faster than the sequential reads, and within 1.5× the slowest single call.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from bot.actions.diagnose import Diagnose, Diagnosis
from bot.actions.k8s_common import match_labels_selector
from bot.authorizer import Authorizer
from bot.clock import SystemClock
from bot.database import DatabaseGateway
from bot.diagnostics import DiagnosticsService, Gateways
from bot.emulator.kubernetes import (
    Cluster,
    KubernetesDouble,
    add_deployment,
    api_client,
    deployment_pods,
    orion_prod,
    set_pod_usage,
)
from bot.health import HealthChecker
from bot.kube import KubeGateway
from tests.diagnostics.conftest import COMMANDER, make_policy

NS, DEPLOYMENT_50 = "orion-prod", "bulk-worker"


async def timed(work: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def serve_double(
    pods: int, latency_ms: float, scenario: bool, ports: Queue[tuple[str, str]], stop: Event
) -> None:
    """The Kubernetes double with its orion-prod scenario and a `pods`-replica deployment,
    every request delayed by its latency fault; in its own process, as an API server is."""
    cluster = Cluster()
    if scenario:
        orion_prod(cluster)
    add_deployment(
        cluster, NS, DEPLOYMENT_50, replicas=pods, image="registry/big:1",
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
    )  # fmt: skip
    for pod in deployment_pods(cluster, NS, DEPLOYMENT_50):
        set_pod_usage(cluster, NS, pod["metadata"]["name"], cpu="50m", memory="200Mi")
    with KubernetesDouble(cluster) as double:
        double.faults.set_latency(latency_ms / 1000)
        ports.put((double.base_url, DEPLOYMENT_50))
        stop.wait()


async def main(pods: int, latency_ms: float, rounds: int, scenario: bool) -> None:
    ports: Queue[tuple[str, str]] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(
        target=serve_double, args=(pods, latency_ms, scenario, ports, stop)
    )
    process.start()
    try:
        base_url, deployment = ports.get(timeout=30)
        await measure(base_url, deployment, pods, latency_ms, rounds)
    finally:
        stop.set()
        process.join(5)


async def measure(
    base_url: str, deployment_name: str, pods: int, latency_ms: float, rounds: int
) -> None:
    kube = KubeGateway(api_client(base_url))
    policy = make_policy()

    async def no_groups(_: str) -> list[str]:
        return []

    service = DiagnosticsService(
        (Diagnose(),), Authorizer(policy, no_groups), None, None, SystemClock(),  # type: ignore[arg-type]
        Gateways(lambda _: kube, None, HealthChecker(None), DatabaseGateway()),  # type: ignore[arg-type]
        timeout_s=30,
    )  # fmt: skip
    action = Diagnose()
    params = action.parse(deployment_name)
    ctx = service.context(COMMANDER, None)
    ctx.permitted = frozenset({"pods", "events", "top", "rollout-history", "hpa"})
    scopes = action.scopes(params, ctx)

    async def diagnose() -> None:
        findings = await action.execute(params, ctx, scopes)
        action.render(params, findings, ctx)

    deployment = await kube.get_deployment(NS, deployment_name)
    selector = match_labels_selector(deployment)
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "get deployment": lambda: kube.get_deployment(NS, deployment_name),
        "list pods": lambda: kube.list_pods(NS, selector),
        "list events": lambda: kube.list_events(NS),
        "pod metrics": lambda: kube.pod_metrics(NS, selector),
        "list replicasets": lambda: kube.list_replicasets(NS, selector),
        "list hpas": lambda: kube.list_hpas(NS),
    }

    async def sequential() -> None:
        for read in reads.values():
            await read()

    async def sequential_diagnose() -> None:
        """The same diagnosis built from the same reads made one after another."""
        dep = await kube.get_deployment(NS, deployment_name)
        results = [await reads[name]() for name in list(reads)[1:]]
        pods, events, metrics, sets, hpas = results
        diagnosis = Diagnosis(dep)
        action._assemble(diagnosis, params, ctx, pods, events, metrics, sets, hpas)
        action.render(params, diagnosis, ctx)

    await diagnose()  # warm-up: connections, threads
    await sequential()
    single = {name: statistics.median(await timed(read, rounds)) for name, read in reads.items()}
    concurrent = await timed(diagnose, rounds)
    one_by_one = await timed(sequential, rounds)
    one_by_one_full = await timed(sequential_diagnose, rounds)

    d, s = statistics.median(concurrent), statistics.median(one_by_one)
    sf = statistics.median(one_by_one_full)
    slowest_name, slowest = max(single.items(), key=lambda kv: kv[1])
    switch = sys.getswitchinterval() * 1000
    print(f"pods={pods} latency={latency_ms:g} ms rounds={rounds} switch={switch:g} ms (medians)")
    print(f"  server: {base_url}")
    for name, ms in single.items():
        print(f"  single {name:<17} {ms:7.1f} ms")
    print(f"  diagnose (concurrent)    {d:7.1f} ms   p90 {_p90(concurrent):7.1f} ms")
    print(f"  same reads sequentially  {s:7.1f} ms   p90 {_p90(one_by_one):7.1f} ms")
    print(f"  sequential + same render {sf:7.1f} ms   p90 {_p90(one_by_one_full):7.1f} ms")
    print(f"  speed-up vs sequential   {s / d:7.2f}×  (reads only; target ≥ 5×)")
    print(f"  speed-up, same work      {sf / d:7.2f}×  (reads + assembly + render both sides)")
    print(f"  vs slowest single call   {d / slowest:7.2f}×  ({slowest_name}; target ≤ 1.5×)")


def _p90(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.9) - 1)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    asyncio.run(main(args.pods, args.latency_ms, args.rounds, not args.no_scenario))
