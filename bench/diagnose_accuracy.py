"""How often `diagnose`'s first line names the cause, on the scenario corpus, and how long it takes.

    python -m bench.diagnose_accuracy [--latency-ms 30] [--rounds 5] [--no-prometheus]
    python -m bench.diagnose_accuracy --smoke      # one round, no latency; exit 1 on a miss

The corpus (bot/sandbox/doubles/kubernetes/corpus.py) is one incident per seed playbook, a
healthy control and a misleading rollout, each with the cause a competent SRE would name. It is
served by the Kubernetes double (`--latency-ms` added to every request) beside a Prometheus API
stand-in answering each scenario's error rate and latency (the same latency), and `diagnose`
runs on each scenario through Fireline's own gateways, as the commander role (every part
allowed). Printed: each scenario's first line and whether it names the cause, accuracy
(named / total), and the latency of each diagnosis (median of `--rounds`; the first round of
each scenario is a cold one, reading its pods' logs only once their names are known).

`--no-prometheus`: the same without Prometheus, to show what the rules make of Kubernetes and
the logs alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bench._support import add_smoke_flag
from bot.clock import SystemClock
from bot.diagnostics.actions.diagnose import Diagnose
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.policy.authorizer import Authorizer
from bot.policy.models import Prometheus
from bot.sandbox.doubles.kubernetes import KubernetesDouble, api_client
from bot.sandbox.doubles.kubernetes.corpus import SCENARIOS, build_corpus
from tests.diagnostics.conftest import COMMANDER, FrozenClock, make_policy
from tests.diagnostics.prometheus_api import corpus_app, serve
from tests.diagnostics.scenario import NOW, new_cluster

PARTS = ("pods", "events", "top", "rollout-history", "hpa", "query", "logs")


@asynccontextmanager
async def prometheus(latency_s: float, enabled: bool) -> AsyncIterator[str | None]:
    if not enabled:
        yield None
        return
    async with serve(corpus_app(SCENARIOS, latency_s=latency_s)) as url:
        yield url


async def main(latency_ms: float, rounds: int, with_prometheus: bool, smoke: bool) -> int:
    cluster = build_corpus(new_cluster())
    with KubernetesDouble(cluster) as double:
        double.faults.set_latency(latency_ms / 1000)
        kube = KubeGateway(api_client(double.base_url))
        async with (
            httpx.AsyncClient() as http,
            prometheus(latency_ms / 1000, with_prometheus) as url,
        ):
            policy = make_policy(prometheus=Prometheus(url=url) if url else None)
            gateway = PrometheusGateway(url, timeout_s=5) if url else None

            async def no_groups(_: str) -> list[str]:
                return []

            authorizer = Authorizer(policy, no_groups)
            service = DiagnosticsService(
                (Diagnose(),), authorizer, None, None, SystemClock(),  # type: ignore[arg-type]
                Gateways(lambda _: kube, gateway, HealthChecker(http), DatabaseGateway()),
                timeout_s=30,
            )  # fmt: skip
            service.clock = FrozenClock(NOW)  # the corpus's own time
            roles = await authorizer.check(COMMANDER, "diagnose", [])
            action = Diagnose()
            named = 0
            latencies: list[float] = []
            cold: list[float] = []
            for scenario in SCENARIOS:
                params = action.parse(f"{scenario.deployment} -n {scenario.namespace}")
                ctx = service.context(COMMANDER, None)
                ctx.permitted = authorizer.permitted(roles, PARTS)
                ctx.reaches = lambda scope: authorizer.reaches(roles, scope)
                scopes = action.scopes(params, ctx)
                samples = []
                first = ""
                for _ in range(rounds):
                    started = time.perf_counter()
                    found: Any = await action.execute(params, ctx, scopes)
                    result = action.render(params, found, ctx)
                    samples.append((time.perf_counter() - started) * 1000)
                    first = result.headline[0]
                cold.append(samples[0])
                latencies.append(statistics.median(samples[1:] or samples))
                ok = scenario.named(first)
                named += ok
                print(f"{'✓' if ok else '✗'} {scenario.name:<24} {latencies[-1]:7.1f} ms  {first}")
                if not ok:
                    print(f"    expected: {scenario.cause}")
        await kube.aclose()
        if gateway is not None:
            await gateway.aclose()
    total = len(SCENARIOS)
    print(
        f"accuracy {named}/{total} ({named / total:.0%}) · latency {latency_ms:g} ms per call · "
        f"prometheus {'on' if with_prometheus else 'off'} · diagnose median "
        f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms "
        f"(cold: median {statistics.median(cold):.1f} ms, max {max(cold):.1f} ms)"
    )
    return 0 if named == total or not smoke else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-prometheus", action="store_true")
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = 1 if args.smoke else max(1, args.rounds)
    sys.exit(asyncio.run(main(args.latency_ms, rounds, not args.no_prometheus, args.smoke)))
