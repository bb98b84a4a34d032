"""The living cluster's reads, and its memory over a long run (issue 17).

    python -m bench.sandbox_living [--hours 24] [--reads 20] [--smoke]

On the sandbox's orion-prod (a manual clock, in process: what is measured is the generation,
not HTTP), time:
- a full container log (the rotation limit, MAX_LINES lines) and a `--since 10m` read;
- the simulated Prometheus's `query_range` for error-rate over 60 minutes at a 30 s step (121
  points per service), as `query error-rate` asks it;
then run `--hours` of sandbox time, a controller pass every minute, scaling orders-api up and down
every 10 minutes and deleting a search pod every 15, and report the live Python memory
(tracemalloc) and the ledger and event counts at the start and the end: they must stay bounded
(events expire after an hour, gone pods leave the ledger after a day, logs are never stored).

Checked in every run: the full log has exactly MAX_LINES lines, the range query 121 points per
service, checkout's error rate is above 50 %, and the event count at the end is within a bound.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from datetime import timedelta

from bench._support import add_smoke_flag, check
from bot.policy.models import default_queries
from bot.sandbox.doubles.kubernetes import Cluster, ManualClock, Timing, deployment_pods, reconcile
from bot.sandbox.doubles.kubernetes.life import MAX_LINES
from bot.sandbox.doubles.kubernetes.logs import read_log
from bot.sandbox.doubles.kubernetes.pods import terminate
from bot.sandbox.doubles.kubernetes.story import living_orion_prod
from bot.sandbox.prometheus import SimulatedPrometheus
from bot.sandbox.telemetry import Telemetry

NS = "orion-prod"
EVENT_BOUND = 400


def timed(action: object, reads: int) -> float:
    """Median milliseconds of `reads` calls."""
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--reads", type=int, default=20)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.hours, args.reads = 0.5, 3

    clock = ManualClock()
    cluster = living_orion_prod(Cluster(clock, timing=Timing(rollout_step=5, pod_ready=8)))
    clock.advance(3 * 3600)  # pods that have logged for 3 hours: past the rotation limit
    reconcile(cluster)
    orders = deployment_pods(cluster, NS, "orders-api")[0]["metadata"]["name"]
    full = read_log(cluster, NS, orders, {})
    check(len(full.splitlines()) == MAX_LINES, f"full log: {len(full.splitlines())} lines")
    full_ms = timed(lambda: read_log(cluster, NS, orders, {}), args.reads)
    since_ms = timed(lambda: read_log(cluster, NS, orders, {"sinceSeconds": "600"}), args.reads)

    prometheus = SimulatedPrometheus(Telemetry(cluster), default_queries())

    def error_rate() -> dict[object, int]:
        points: dict[object, int] = {}
        at = cluster.now() - timedelta(minutes=60)
        while at <= cluster.now():
            for labels, value in prometheus.sample("error-rate", ".*", at).items():
                points[labels] = points.get(labels, 0) + 1
                if labels == (("service", "checkout"),) and at == cluster.now():
                    check(value > 50, f"checkout's error rate now: {value}")
            at += timedelta(seconds=30)
        return points

    check(set(error_rate().values()) == {121}, "121 points per service")
    range_ms = timed(error_rate, args.reads)

    tracemalloc.start()  # what the long run adds (tracing the reads would slow them)
    start_mem = tracemalloc.get_traced_memory()[0]
    start_counts = (len(cluster.life.ledger), len(cluster.scan("v1", "Event")))  # type: ignore[union-attr]
    for tick in range(int(args.hours * 60)):
        clock.advance(60)
        with cluster.lock:
            if tick % 10 == 0:
                deployment = cluster.require("apps/v1", "Deployment", NS, "orders-api")
                deployment["spec"]["replicas"] = 3 if deployment["spec"]["replicas"] == 2 else 2
                cluster.update(deployment)
            if tick % 15 == 0:
                terminate(cluster, deployment_pods(cluster, NS, "search")[0])
        reconcile(cluster)
    end_mem = tracemalloc.get_traced_memory()[0]
    end_counts = (len(cluster.life.ledger), len(cluster.scan("v1", "Event")))  # type: ignore[union-attr]
    check(end_counts[1] <= EVENT_BOUND, f"{end_counts[1]} events kept")

    print(f"full log ({MAX_LINES} lines): {full_ms:.1f} ms · --since 10m: {since_ms:.2f} ms")
    print(f"query_range error-rate, 60 min at 30 s: {range_ms:.1f} ms")
    print(
        f"after {args.hours:g} h of sandbox time: memory +{(end_mem - start_mem) / 2**20:.2f} "
        f"MiB · ledger {start_counts[0]} → {end_counts[0]} · "
        f"events {start_counts[1]} → {end_counts[1]}"
    )


if __name__ == "__main__":
    main()
