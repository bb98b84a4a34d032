"""`diagnose` on a 50-pod deployment with 30 ms added to every API call — now reading the logs of
up to 5 pods and two Prometheus range queries too — beside the same reads made one after
another, beside the reads of the command-by-command runbook, and beside each read alone (the
slowest single call); and the whole slash command, end to end.

    python -m bench.diagnose_bench [--pods 50] [--latency-ms 30] [--rounds 20] [--smoke]

In server processes, as real servers are: the Kubernetes double (bot/sandbox/doubles/kubernetes,
its orion-prod scenario plus a `bulk-worker` deployment of `--pods` replicas, each with logs
and two of them restarted) with its latency fault on every request, and, in a process of its
own, a local Prometheus HTTP API (`/api/v1/query_range`) with the same latency added. The bot
side is Fireline's gateways: Kubernetes reads built by the official client and made over
aiohttp on the loop (docs/decisions/kubernetes-reads.md), and Prometheus over the same
transport.

What each side does:

- diagnose (warm): all reads at once — the deployment, the namespace's pods, events, metrics,
  ReplicaSets and HPAs, the error-rate and p95-latency range queries, and the logs of the
  pods chosen last time (read speculatively beside the lists; the pod list confirms them) —
  then the rules, assembly and rendering.
- diagnose (first, watched): the first diagnosis of the deployment in a bot that has been up:
  a fresh action, and the namespace's pods kept by a watch (bot/gateways/pod_watch.py), as the
  bot keeps those of the namespaces its policy names. The logs are asked for with everything
  else; no pod list is read. Its ratio is to the slowest of the reads it makes.
- diagnose (cold): a fresh action and no watch (a namespace first looked into, a watch that
  is broken): the logs are read once the pod list has answered (two round trips).
- same reads, all at once: every read `diagnose` makes, started together, nothing done with
  the answers: the floor that the double (one Python process answering 13 requests) and this
  machine set under `diagnose`, whatever the bot does.
- same reads, in sequence: every read `diagnose` makes, one after another (reads only).
- runbook: what a responder types for the same facts, one read per command, in order:
  `kubectl get deploy`, `get pods -l`, `get events`, `top pods -l`, `rollout history`
  (its ReplicaSet list), `get hpa`, the two PromQL queries, then `kubectl logs` of each
  chosen pod. Reads only: kubectl's printing and the human in between are not counted.
- end to end: `/incident diagnose bulk-worker` as the service runs it — parse, find the
  channel's incident in Redis, run under the policy, audit in Redis, post (a recording Slack).

Where it runs: an API server is another machine, so on a machine of two cores or more the bot
(this process) is pinned to one core and the servers to the others (`--no-pin` shares them all,
as before 2026-12-01). Sharing, the double's answers and the bot's work on them land on either
core as the scheduler likes, and the bot's loop is preempted by the very server it waits for:
a cost of this rig, not of `diagnose` (both are printed in docs/benchmarks.md).

Targets: diagnose (warm, and first with watched pods) within 1.3× the slowest single call,
and the command under 2 s end to end.
Checked in every run: each diagnosis reads every pod of the deployment, both signals and some
logs, with no failed read, and the command posts the cause. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import httpx
from aiohttp import web
from redis.asyncio import Redis

from bench._support import add_smoke_flag, check
from bot.actions.base import Context
from bot.actions.kubernetes import match_labels_selector
from bot.clock import SystemClock
from bot.diagnostics import log_reads as diagnose_module
from bot.diagnostics.actions import default_actions
from bot.diagnostics.actions.diagnose import SIGNALS, Diagnose
from bot.diagnostics.log_reads import choose_reads
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.interaction import Actor
from bot.policy.authorizer import Authorizer
from bot.policy.models import Prometheus, RateLimit
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    add_deployment,
    add_logs,
    api_client,
    deployment_pods,
    mark_oom_killed,
    orion_prod,
    set_pod_usage,
)
from bot.store.store import Store
from tests.diagnostics.conftest import COMMANDER, RecordingSlack, make_policy

NS, DEPLOYMENT_50 = "orion-prod", "bulk-worker"
PARTS = ("pods", "events", "top", "rollout-history", "hpa", "query", "logs")


async def timed(work: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def prometheus_api(latency_s: float) -> web.Application:
    """Prometheus's range API: one rising series per query, the latency added to each call."""

    async def query_range(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_s)
        start, end = float(request.query["start"]), float(request.query["end"])
        step = float(request.query["step"])
        n = int((end - start) / step) + 1
        values = [[start + i * step, str(0.2 + (7.0 if i > n - 10 else 0.0))] for i in range(n)]
        result = [{"metric": {"service": DEPLOYMENT_50}, "values": values}]
        data = {"resultType": "matrix", "result": result}
        return web.json_response({"status": "success", "data": data})

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    return app


def pin(cpus: set[int] | None) -> None:
    """Keep this process on `cpus` (None: wherever the scheduler likes)."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def split_cpus(pinned: bool) -> tuple[set[int] | None, set[int] | None]:
    """The bot's core and the servers' cores: one for the bot, the rest for the servers, when
    `pinned` and there are two or more; otherwise no pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pinned or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def serve_prometheus(
    latency_ms: float, urls: Queue[str], stop: Event, cpus: set[int] | None = None
) -> None:
    """The Prometheus API stand-in, each request delayed by `latency_ms`; in a process of its
    own, as Prometheus is a server of its own (it shared the double's process, and so its one
    core and its GIL, until 2026-12-01)."""
    pin(cpus)

    async def run() -> None:
        runner = web.AppRunner(prometheus_api(latency_ms / 1000), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        urls.put(f"http://127.0.0.1:{runner.addresses[0][1]}")
        await asyncio.to_thread(stop.wait)
        await runner.cleanup()

    asyncio.run(run())


def serve(
    pods: int,
    latency_ms: float,
    scenario: bool,
    urls: Queue[str],
    stop: Event,
    cpus: set[int] | None = None,
) -> None:
    """The Kubernetes double (orion-prod plus a `pods`-replica deployment whose pods log, two
    of them OOM-killed), each request delayed by `latency_ms`; in its own process, as API
    servers are."""
    pin(cpus)
    cluster = Cluster()
    if scenario:
        orion_prod(cluster)
    add_deployment(
        cluster, NS, DEPLOYMENT_50, replicas=pods, image="registry/big:1",
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "256Mi"},
    )  # fmt: skip
    now = cluster.now()
    for index, pod in enumerate(deployment_pods(cluster, NS, DEPLOYMENT_50)):
        name = pod["metadata"]["name"]
        set_pod_usage(cluster, NS, name, cpu="50m", memory="200Mi")
        lines = [f"INFO job {i} done in {20 + i % 7}ms" for i in range(150)]
        lines += [f'ERROR job {i} failed: upstream "ledger" returned 503' for i in range(50)]
        add_logs(cluster, NS, name, lines, interval=2)
        if index < 2:
            mark_oom_killed(cluster, NS, name, restarts=3)
            add_logs(cluster, NS, name, ["FATAL out of memory"] * 20, previous=True,
                     end=now - timedelta(minutes=2))  # fmt: skip

    with KubernetesDouble(cluster) as double:
        double.faults.set_latency(latency_ms / 1000)
        urls.put(double.base_url)
        stop.wait()


async def main(
    pods: int, latency_ms: float, rounds: int, scenario: bool, pinned: bool = True
) -> None:
    kube_urls: Queue[str] = multiprocessing.Queue()
    prometheus_urls: Queue[str] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    bot_cpus, server_cpus = split_cpus(pinned)
    kube_args = (pods, latency_ms, scenario, kube_urls, stop, server_cpus)
    processes = [
        multiprocessing.Process(target=serve, args=kube_args),
        multiprocessing.Process(
            target=serve_prometheus, args=(latency_ms, prometheus_urls, stop, server_cpus)
        ),
    ]
    for process in processes:
        process.start()
    everywhere = os.sched_getaffinity(0)
    pin(bot_cpus)
    try:
        kube_url, prometheus_url = kube_urls.get(timeout=30), prometheus_urls.get(timeout=30)
        # What the process built so far left out of garbage collection, as Fireline.start does
        # once started (bot/app/fireline.py): diagnose's decoding and parsing set off
        # collections that would otherwise walk it each time.
        gc.collect()
        gc.freeze()
        try:
            where = (
                f"{len(everywhere)}, the bot on {sorted(bot_cpus)} and the servers on "
                f"{sorted(server_cpus or ())}"
                if bot_cpus
                else f"{len(everywhere)}, shared"
            )
            await measure(kube_url, prometheus_url, pods, latency_ms, rounds, where)
        finally:
            gc.unfreeze()
    finally:
        os.sched_setaffinity(0, everywhere)
        stop.set()
        for process in processes:
            process.join(5)


async def measure(
    kube_url: str, prometheus_url: str, pods: int, latency_ms: float, rounds: int, where: str
) -> None:
    api = api_client(kube_url)
    kube = KubeGateway(api)
    http = httpx.AsyncClient()
    prometheus = PrometheusGateway(prometheus_url, timeout_s=5)
    policy = make_policy(prometheus=Prometheus(url=prometheus_url))
    policy = policy.model_copy(update={"rate_limit": RateLimit(per_minute=10_000)})
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"bench-diagnose-{uuid.uuid4().hex[:8]}:"
    store = Store(redis, prefix=prefix)
    slack = RecordingSlack()

    async def no_groups(_: str) -> list[str]:
        return []

    authorizer = Authorizer(policy, no_groups)
    action = Diagnose()
    others = tuple(a for a in default_actions() if a.name != action.name)
    service = DiagnosticsService(
        (action, *others), authorizer, store, slack, SystemClock(),  # type: ignore[arg-type]
        Gateways(lambda _: kube, prometheus, HealthChecker(http), DatabaseGateway()),
        timeout_s=30,
    )  # fmt: skip
    params = action.parse(DEPLOYMENT_50)
    ctx = service.context(COMMANDER, None)
    roles = await authorizer.check(COMMANDER, "diagnose", [])
    ctx.permitted = authorizer.permitted(roles, PARTS)
    ctx.reaches = lambda scope: authorizer.reaches(roles, scope)
    scopes = action.scopes(params, ctx)
    assert policy.prometheus is not None
    promql = {
        name: policy.prometheus.queries[name].promql.replace("$service", DEPLOYMENT_50)
        for name in SIGNALS
    }

    async def diagnose_with(instance: Diagnose, context: Context = ctx) -> None:
        findings = await instance.execute(params, context, scopes)
        evidence = findings.evidence
        check(not evidence.failures, f"diagnose failed to read: {evidence.failures}")
        check(len(evidence.signals) == 2, "diagnose read no error rate or latency")
        check(len(evidence.pods) == pods, f"diagnose saw {len(evidence.pods)} of {pods} pods")
        check(bool(evidence.templates), "diagnose read no logs")
        instance.render(params, findings, ctx)

    async def warm() -> None:
        await diagnose_with(action)

    async def cold() -> None:
        await diagnose_with(Diagnose())

    # The same cluster through a gateway whose watch keeps the namespace's pods.
    watched_api = api_client(kube_url)
    watched = KubeGateway(watched_api)
    tracemalloc.start()
    held = tracemalloc.get_traced_memory()[0]
    watch = watched.watch_pods(NS)
    assert watch is not None
    await asyncio.wait_for(watch.until(lambda w: w.state == "current"), 30)
    kept = len(watch.pods() or [])
    held = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    watched_ctx = replace(ctx, kube=lambda _: watched)

    async def first_watched() -> None:
        await diagnose_with(Diagnose(), watched_ctx)

    deployment = await kube.get_deployment(NS, DEPLOYMENT_50)
    selector = match_labels_selector(deployment)
    listed = await kube.list_pods(NS, selector)
    chosen = choose_reads(listed)
    end = datetime.now(UTC)

    def log_read(read: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: kube.pod_log(
            NS, read.pod, container=read.container, since_s=diagnose_module.LOG_SINCE_S,
            previous=read.previous, tail_lines=diagnose_module.LOG_TAIL,
            limit_bytes=diagnose_module.LOG_BYTES,
        )  # fmt: skip

    def range_query(name: str) -> Callable[[], Awaitable[Any]]:
        return lambda: prometheus.query_range(promql[name], end - timedelta(hours=1), end, 60)

    # diagnose's own reads (namespace-wide lists, filtered locally) ...
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "get deployment": lambda: kube.get_deployment(NS, DEPLOYMENT_50),
        "list pods (ns)": lambda: kube.list_pods(NS),
        "list events (ns)": lambda: kube.list_events(NS),
        "pod metrics (ns)": lambda: kube.pod_metrics(NS),
        "replicasets (ns)": lambda: kube.list_replicasets(NS, None),
        "list hpas (ns)": lambda: kube.list_hpas(NS),
        **{f"{name} range": range_query(name) for name in SIGNALS},
        **{f"log {'prev' if r.previous else 'cur'} {r.pod[-5:]}": log_read(r) for r in chosen},
    }
    # ... and the runbook's, one command each.
    runbook: list[Callable[[], Awaitable[Any]]] = [
        lambda: kube.get_deployment(NS, DEPLOYMENT_50),  # kubectl get deploy
        lambda: kube.list_pods(NS, selector),  # kubectl get pods -l
        lambda: kube.list_events(NS),  # kubectl get events
        lambda: kube.pod_metrics(NS, selector),  # kubectl top pods -l
        lambda: kube.list_replicasets(NS, selector),  # kubectl rollout history
        lambda: kube.list_hpas(NS),  # kubectl get hpa
        *(range_query(name) for name in SIGNALS),  # the PromQL queries
        *(log_read(r) for r in chosen),  # kubectl logs [-p] of each pod
    ]

    async def sequential_reads() -> None:
        for read in reads.values():
            await read()

    async def together() -> None:
        await asyncio.gather(*(read() for read in reads.values()))

    async def sequential_runbook() -> None:
        for read in runbook:
            await read()

    async def command() -> None:
        actor = Actor(COMMANDER, "CBENCH01", f"trigger-{uuid.uuid4().hex}")
        reply = await service.command("diagnose", DEPLOYMENT_50, actor)
        check(reply.later is not None, "the command did nothing after its ack")
        assert reply.later is not None
        check(await reply.later() is None, "the command's result was not posted")
        posted = slack.posts[-1]["text"]
        check("OOMKilled" in posted and "Partial" not in posted, f"posted: {posted[:300]}")

    await warm()  # warm-up: connections, threads
    await sequential_reads()
    await sequential_runbook()
    await command()
    single = {name: statistics.median(await timed(read, rounds)) for name, read in reads.items()}
    concurrent = await timed(warm, rounds)
    first = await timed(cold, rounds)
    await first_watched()  # warm-up: its connections
    watched_first = await timed(first_watched, rounds)
    check(watch.lists == 1 and watch.state == "current", "the pod watch broke during the run")
    floor = await timed(together, rounds)
    same = await timed(sequential_reads, rounds)
    typed = await timed(sequential_runbook, rounds)
    whole = await timed(command, rounds)
    await http.aclose()
    await prometheus.aclose()
    await kube.aclose()
    await watched.aclose()
    watched_api.close()  # type: ignore[no-untyped-call]
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        await redis.delete(key)
    await redis.aclose()

    d, c = statistics.median(concurrent), statistics.median(first)
    f = statistics.median(floor)
    s, r, e = statistics.median(same), statistics.median(typed), statistics.median(whole)
    slowest_name, slowest = max(single.items(), key=lambda kv: kv[1])
    w = statistics.median(watched_first)
    made = {name: ms for name, ms in single.items() if name != "list pods (ns)"}
    slowest_made_name, slowest_made = max(made.items(), key=lambda kv: kv[1])
    switch = sys.getswitchinterval() * 1000
    logs = sum(1 for name in reads if name.startswith("log "))
    print(f"pods={pods} latency={latency_ms:g} ms rounds={rounds} switch={switch:g} ms "
          f"cpus={where} load={os.getloadavg()[0]:.2f} reads={len(reads)} "
          f"(logs: {logs}) (medians)")  # fmt: skip
    for name, ms in single.items():
        print(f"  single {name:<22} {ms:7.1f} ms")
    print(f"  diagnose (warm)           {d:7.1f} ms   p90 {_p90(concurrent):7.1f} ms")
    print(f"  diagnose (first, watched) {w:7.1f} ms   p90 {_p90(watched_first):7.1f} ms  "
          f"({kept} pods kept: {held / 1024:.0f} KiB, tracemalloc)")  # fmt: skip
    print(f"  diagnose (cold)           {c:7.1f} ms   p90 {_p90(first):7.1f} ms")
    print(f"  same reads, all at once   {f:7.1f} ms   p90 {_p90(floor):7.1f} ms  (reads only)")
    print(f"  same reads, in sequence   {s:7.1f} ms   p90 {_p90(same):7.1f} ms")
    print(f"  runbook reads, in order   {r:7.1f} ms   p90 {_p90(typed):7.1f} ms")
    print(
        f"  command, end to end       {e:7.1f} ms   p90 {_p90(whole):7.1f} ms  (target < 2000 ms)"
    )
    print(f"  speed-up vs same reads    {s / d:7.2f}×   vs runbook {r / d:7.2f}×")
    print(f"  vs slowest single call    {d / slowest:7.2f}× warm, {c / slowest:.2f}× cold  "
          f"({slowest_name}; target ≤ 1.3×)")  # fmt: skip
    print(f"  first with watched pods   {w / slowest_made:7.2f}× the slowest read it makes "
          f"({slowest_made_name}; target ≤ 1.3×)")  # fmt: skip
    print(f"  reads alone, all at once  {f / slowest:7.2f}× the slowest single call: the floor the "
          f"double and this machine set; diagnose adds {d - f:.1f} ms to it")  # fmt: skip


def _p90(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.9) - 1)]


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--no-scenario", action="store_true", help="only the bulk deployment, not orion-prod"
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the bot and the servers share every core (default: the bot on one, the "
        "servers on the others, as an API server runs on machines of its own)",
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
    asyncio.run(
        main(args.pods, args.latency_ms, args.rounds, not args.no_scenario, not args.no_pin)
    )


if __name__ == "__main__":
    cli()
