"""Guarded remediation: time from Approve to a verified rollout, and approvals per second.

    python -m bench.remediation_bench [--rounds 10] [--pending 100] [--smoke]

The whole bot (`create_app`) on real Redis (127.0.0.1:6379, DB 15, a unique key prefix), the
Slack Web API double and the Kubernetes double (orion-prod scenario, the double's default
controller timing: a rollout step and a pod becoming Ready each take 50 ms), both over real
HTTP; the Kubernetes double runs in its own process (a fresh one per phase).

1. Approve → verified: `scale task-service` up by one, then a rolling `restart`, `--rounds`
   times each; measured from the approval call (the claim) to the record reaching `succeeded`
   (applied through the run job, rollout followed until available, card edited).
2. Throughput: `--pending` requests (`scale worker 2` in namespaces bulk-0 … bulk-N) waiting for
   approval, approved all at once; approvals processed per second (claims recorded and run
   jobs scheduled) and the time until every one of them is verified.

Checked in every run: every request is recorded and every approval ends `succeeded` (none
failed, stale or unknown). Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis

from bench._support import add_smoke_flag, check
from bot.app import Deps, Fireline, create_app
from bot.policy.models import ALL_ACTIONS, Policy, RoleGrant
from bot.policy.models import Cluster as PolicyCluster
from bot.policy.remediation import RemediationPolicy, RemediationRule
from bot.remediation.actions import default_remediations
from bot.remediation.service import Origin
from bot.remediation.store import State
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    add_deployment,
    api_client,
    orion_prod,
)
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.harness import settings_for

NS = "orion-prod"
T = TypeVar("T")


def policy(requester: str, approver: str) -> Policy:
    rule = RemediationRule(
        namespaces=(NS, "bulk-*"), max_replicas=50, max_step=10, cooldown_minutes=0
    )
    return Policy(
        roles={
            "viewer": RoleGrant(),
            "responder": RoleGrant(users=(requester,)),
            "commander": RoleGrant(users=(approver,)),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={"k": PolicyCluster(context="k", namespaces=(NS, "bulk-*"), default_namespace=NS)},
        remediation=RemediationPolicy(
            enabled=True,
            verify_timeout_s=120,
            actions=dict.fromkeys((r.name for r in default_remediations()), rule),
        ),
    )


async def request(app: Fireline, origin: Origin, name: str, text: str) -> str:
    service = app.remediation
    action = service.actions[name]
    told = await service.request(action, action.parse(text), origin)
    check(told is None or told.startswith("R-"), f"request {name} {text!r} refused: {told}")
    ids = await service.records.redis.get(service.records.keys.remediation_sequence)
    check(ids is not None, "no remediation recorded")
    assert ids is not None
    return f"R-{int(ids)}"


async def until(app: Fireline, remediation_id: str, state: State, limit_s: float = 120) -> None:
    deadline = time.perf_counter() + limit_s
    while True:
        record = await app.remediation.records.get(remediation_id)
        check(record is not None, f"{remediation_id} not recorded")
        assert record is not None
        if record.state == state:
            return
        check(record.state not in {State.FAILED, State.STALE, State.UNKNOWN}, f"{record}")
        check(time.perf_counter() < deadline, f"{remediation_id} still {record.state}")
        await asyncio.sleep(0.005)


async def approve_to_verified(
    app: Fireline, origin: Origin, approver: str, rounds: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"scale +1": [], "restart": []}
    replicas = 3
    for _ in range(rounds):
        for label, name, text in (
            ("scale +1", "scale", f"task-service {replicas + 1}"),
            ("restart", "restart", "task-service"),
        ):
            rid = await request(app, origin, name, text)
            started = time.perf_counter()
            await app.remediation.approve(rid, approver)
            await until(app, rid, State.SUCCEEDED)
            samples[label].append((time.perf_counter() - started) * 1000)
        replicas += 1
    return samples


async def throughput(app: Fireline, origin: Origin, approver: str, pending: int) -> dict[str, Any]:
    ids = [await request(app, origin, "scale", f"worker 2 -n bulk-{i}") for i in range(pending)]
    started = time.perf_counter()
    replies = await asyncio.gather(*(app.remediation.approve(rid, approver) for rid in ids))
    claimed = time.perf_counter() - started
    await asyncio.gather(*(r.later() for r in replies if r.later))  # card edits, as after acks
    await asyncio.gather(*(until(app, rid, State.SUCCEEDED, 300) for rid in ids))
    verified = time.perf_counter() - started
    return {"claimed_s": claimed, "per_s": pending / claimed, "all_verified_s": verified}


def serve_double(pending: int, urls: Queue[str], stop: Event) -> None:
    """The Kubernetes double in its own process, as an API server is (not sharing the bot's
    interpreter: its controllers would otherwise be measured as the bot's time)."""
    cluster = Cluster()
    orion_prod(cluster)
    for i in range(pending):
        # One namespace each: the double's controllers are quadratic within a namespace.
        add_deployment(cluster, f"bulk-{i}", "worker", replicas=1)
    # Its controllers walk every object on each tick: with 100 extra deployments, tick less often
    # so the API server part of the process stays responsive.
    with KubernetesDouble(cluster, reconcile_interval=0.25 if pending else 0.02) as double:
        urls.put(double.base_url)
        stop.wait()


class DoubleProcess:
    """A Kubernetes double serving from its own process for one phase of the benchmark."""

    def __init__(self, pending: int) -> None:
        self.urls: Queue[str] = multiprocessing.Queue()
        self.stop = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=serve_double, args=(pending, self.urls, self.stop)
        )

    def __enter__(self) -> str:
        self.process.start()
        return self.urls.get(timeout=300)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(5)


async def running_bot(
    base_url: str, poll_s: float, work: Callable[[Fireline, Origin, str], Awaitable[T]]
) -> T:
    """Start the bot against `base_url`, run `work(app, origin, approver)`, clean up."""
    prefix = f"flbench:{uuid.uuid4().hex[:8]}:"
    # A blocking pool: redis-py 8's default pool raises past 100 connections, which 100
    # simultaneous approvals (each a WATCH transaction) plus the scheduler exceed. The bot's own
    # `bot.redis_server.connect` still uses the default pool: see docs/benchmarks.md.
    redis = Redis(
        connection_pool=BlockingConnectionPool.from_url(
            "redis://127.0.0.1:6379/15", max_connections=100, timeout=10
        )
    )
    async with SlackDouble(signing_secret="bench") as slack:
        requester, approver = slack.add_user("rita"), slack.add_user("apollo")
        room = slack.add_channel("war-room", members=[requester, approver])
        broadcast = slack.add_channel("incidents", members=[approver])
        deps = Deps(
            redis=RedisHandle(client=redis, description="bench Redis"),
            policy=policy(requester, approver),
            kube_clients={"k": api_client(base_url)},
            remediation_poll_s=poll_s,
            kube_timeout_s=30.0,
        )
        app = create_app(settings_for(slack, broadcast, redis_prefix=prefix), deps)
        await app.start()
        try:
            return await work(app, Origin(requester, room, None, None), approver)
        finally:
            await app.stop()
            async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
                await redis.delete(key)
            await redis.aclose()


async def main(rounds: int, pending: int) -> None:
    with DoubleProcess(0) as url:
        samples = await running_bot(
            url,
            0.1,
            lambda app, origin, approver: approve_to_verified(app, origin, approver, rounds),
        )
    with DoubleProcess(pending) as url:
        bulk = await running_bot(
            url, 1.0, lambda app, origin, approver: throughput(app, origin, approver, pending)
        )
    print(f"Approve → verified rollout ({rounds} rounds each, verification polling 100 ms, ms):")
    for label, values in samples.items():
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(
            f"  {label:9} p50 {statistics.median(values):7.1f}  p95 {p95:7.1f}  "
            f"max {max(values):7.1f}"
        )
    print(
        f"{pending} pending approvals approved at once: claimed in {bulk['claimed_s']:.2f} s "
        f"({bulk['per_s']:.0f} approvals/s); all verified after {bulk['all_verified_s']:.2f} s "
        "(verification polling 1 s)"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pending", type=int, default=100)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.pending = 1, 3
    asyncio.run(main(args.rounds, args.pending))


if __name__ == "__main__":
    cli()
