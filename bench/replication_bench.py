"""What waiting for a replica costs: the Redis part of a declare and of a click, with and
without `WAIT` (docs/decisions/ha.md).

    python -m bench.replication_bench [--rounds 300] [--concurrency 1,20] [--smoke]

A master, a replica and three Sentinels run as `redis-server` processes on loopback
(tests/sentinel_cluster.py, with `min-replicas-to-write 1` as production is asked to). The bot's
own store, connected through the Sentinels, records incidents (`create_incident`, the Lua
script a declare runs) and acknowledges them (`mutate`, the compare-and-set a button click
runs): `--rounds` of each, `--concurrency` at a time, first with `FIRELINE_REDIS_REPLICA_ACKS=0`
(answer once the master has it), then with 1 (once the replica has it too). Latency is per
call, as the person waiting on it would see it.

Checked in every run: every incident recorded once and acknowledged, and with acks, present on
the replica the moment its call returned.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench._support import add_smoke_flag, check
from bot.incident import Severity, acknowledge, declared_entry
from bot.store.server import connect
from bot.store.store import Store, new_incident
from tests.sentinel_cluster import SentinelCluster


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    cluster: SentinelCluster, acks: int, rounds: int, concurrency: int
) -> dict[str, list[float]]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    handle = connect(cluster.storage(prefix, redis_replica_acks=acks))
    store = Store(handle.client, prefix=prefix)
    replica = (await cluster.replica_ports())[0]
    took: dict[str, list[float]] = {"declare": [], "click": []}
    gate = asyncio.Semaphore(concurrency)
    now = datetime.now(UTC)

    async def one(n: int) -> None:
        async with gate:
            template = new_incident(
                title=f"bench {n}", severity=Severity.P2, reporter="U1", now=now
            )
            started = time.perf_counter()
            incident, created = await store.create_incident(
                f"trigger-{n}", template, declared_entry(template)
            )
            took["declare"].append(time.perf_counter() - started)
            check(created, f"{incident.id} recorded twice")
            if acks:
                on_replica = await cluster.ask(replica, "EXISTS", store.keys.incident(incident.id))
                check(on_replica == 1, f"{incident.id} acknowledged but not on the replica")
            started = time.perf_counter()
            updated, _ = await store.mutate(incident.id, lambda i: acknowledge(i, "U2", now))
            took["click"].append(time.perf_counter() - started)
            check(updated.status.value == "acknowledged", f"{incident.id} not acknowledged")

    try:
        await asyncio.gather(*(one(n) for n in range(rounds)))
        check(len(await store.list_ids(open_only=False)) == rounds, "incidents lost or doubled")
    finally:
        async for key in handle.client.scan_iter(match=f"{prefix}*", count=500):
            await handle.client.delete(key)
        await handle.close()
    return took


async def run(rounds: int, concurrency: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="fireline-bench-ha-") as workdir:
        async with SentinelCluster(Path(workdir)) as cluster:
            print(f"{rounds} declares and {rounds} clicks per row (Redis part), ms per call")
            print(f"{'concurrency':>11} {'acks':>4} {'call':>8} {'p50':>7} {'p99':>7} {'max':>7}")
            await measure(cluster, 1, 20, 1)  # warm-up: connections, scripts loaded
            for level in concurrency:
                for acks in (0, 1):
                    took = await measure(cluster, acks, rounds, level)
                    for call, values in took.items():
                        ms = [v * 1000 for v in values]
                        print(
                            f"{level:>11} {acks:>4} {call:>8} {statistics.median(ms):7.2f} "
                            f"{percentile(ms, 0.99):7.2f} {max(ms):7.2f}",
                            flush=True,
                        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--concurrency", default="1,20", help="comma-separated levels")
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = 20 if args.smoke else args.rounds
    levels = [int(x) for x in args.concurrency.split(",")]
    asyncio.run(run(rounds, [1] if args.smoke else levels))


if __name__ == "__main__":
    main()
