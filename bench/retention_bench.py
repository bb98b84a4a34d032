"""Alert retention (issue 16): Redis memory per resolved alert group, and the sweep's speed.

    python -m bench.retention_bench [--groups 20000]
    python -m bench.retention_bench --smoke      # a few seconds; non-zero exit when broken

Real Redis (127.0.0.1:6379/15, a unique key prefix, removed afterwards). `--groups` resolved
alert groups of three alerts each are saved as the alert worker saves them (`AlertStore.commit`:
the record, its seen-set, its `alerts:retired` entry, the outbox's `parent:`/`thread:` records
and the parent's index): half resolved 31 days ago (due), half a day ago (not due), plus a
tenth as many open groups last changed 90 days ago. Then one sweep (`AlertRetention.sweep`,
what the hourly job runs) with the default 30-day retention, then a sweep with nothing due.

Reported: bytes per resolved group (`MEMORY USAGE` of its keys, plus its share of the
`outbox:sent` hash and of `alerts:retired`), groups forgotten per second, the empty sweep's
time. Checked (smoke and full): every due group forgotten with every piece of it; every group
not yet due and every open group kept whole.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from bench._support import add_smoke_flag, check
from bot.alerts.retention import AlertRetention
from bot.alerts.store import AlertGroup, AlertState, AlertStore
from bot.alerts.writer import parent_slot, thread_slot
from bot.runtime.scheduler import JobQueue, Scheduler
from bot.store.store import Store

REDIS_URL = "redis://127.0.0.1:6379/15"
KEEP = timedelta(days=30)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def group(n: int, status: str, at: datetime) -> AlertGroup:
    alerts = {
        f"fp{n}-{i}": AlertState(
            fingerprint=f"fp{n}-{i}",
            status=status,
            labels={
                "alertname": "PodMemoryGrowing",
                "namespace": "orion-prod",
                "pod": f"task-service-7d9f8b-{n:05d}{i}",
                "severity": "warning",
                "service": "task-service",
            },
            summary=f"Memory of pod task-service-7d9f8b-{n:05d}{i} grew 40% in 30 minutes",
            starts_at=at - timedelta(hours=1),
        )
        for i in range(3)
    }
    return AlertGroup(
        group_id=f"g{n:06d}",
        group_key=f'{{}}:{{alertname="PodMemoryGrowing", service="task-service", n="{n}"}}',
        channel="C0ALERTS01",
        parent_ts=f"1790000000.{n:06d}",
        title="PodMemoryGrowing",
        severity="warning",
        summary="Memory of task-service pods is growing",
        status=status,
        common_labels={"alertname": "PodMemoryGrowing", "service": "task-service"},
        generator_url="http://prometheus.example/graph?g0.expr=container_memory_working_set_bytes",
        runbook_url="https://runbooks.example.com/pod-memory-growing",
        alerts=alerts,
        created_at=at - timedelta(hours=1),
        updated_at=at,
    )


async def save(alerts: AlertStore, store: Store, g: AlertGroup) -> None:
    keys = store.keys
    seen = [f"{a.fingerprint}|{s}|{a.starts_at.isoformat()}" for a in g.alerts.values()
            for s in ("firing", "resolved")]  # fmt: skip

    def queue(pipe: object) -> None:  # what the outbox recorded once it had posted
        pipe.hset(keys.outbox_sent, parent_slot(g.group_id), g.parent_ts or "")  # type: ignore[attr-defined]
        pipe.hset(keys.outbox_sent, thread_slot(g.group_id), "1790000001.000001")  # type: ignore[attr-defined]

    await alerts.commit(g, seen, queue)


async def pieces(store: Store, g: AlertGroup) -> int:
    """How many of the group's five pieces Redis holds."""
    keys, redis = store.keys, store.redis
    pipe = redis.pipeline(transaction=False)
    pipe.exists(keys.alert_group(g.group_id))
    pipe.exists(keys.alert_events(g.group_id))
    pipe.exists(keys.alert_group_by_parent(g.channel, g.parent_ts or ""))
    pipe.hexists(keys.outbox_sent, parent_slot(g.group_id))
    pipe.hexists(keys.outbox_sent, thread_slot(g.group_id))
    return sum(int(x) for x in await pipe.execute())


async def run(groups: int) -> None:
    redis = Redis.from_url(REDIS_URL)
    prefix = f"fireline-bench-retention:{uuid.uuid4().hex[:8]}:"
    store = Store(redis, prefix=prefix)
    alerts = AlertStore(redis, store.keys)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FixedClock(now)
    retention = AlertRetention(
        redis, store.keys, alerts, Scheduler(JobQueue(store), clock), clock, keep=KEEP
    )
    half = groups // 2
    due = [group(n, "resolved", now - timedelta(days=31)) for n in range(half)]
    young = [group(n, "resolved", now - timedelta(days=1)) for n in range(half, groups)]
    open_ = [
        group(n, "firing", now - timedelta(days=90)) for n in range(groups, groups + groups // 10)
    ]
    try:
        for g in [*due, *young, *open_]:
            await save(alerts, store, g)
        sample = due[: min(200, len(due))]
        per_keys = 0
        for g in sample:
            for key in (
                store.keys.alert_group(g.group_id),
                store.keys.alert_events(g.group_id),
                store.keys.alert_group_by_parent(g.channel, g.parent_ts or ""),
            ):
                per_keys += int(await redis.memory_usage(key) or 0)
        shared = int(await redis.memory_usage(store.keys.outbox_sent) or 0) + int(
            await redis.memory_usage(store.keys.alerts_retired) or 0
        )
        per_group = per_keys / len(sample) + shared / groups

        started = time.perf_counter()
        forgotten, more = await retention.sweep()
        took = time.perf_counter() - started
        started = time.perf_counter()
        again, _ = await retention.sweep()
        empty_ms = (time.perf_counter() - started) * 1000

        check(forgotten == len(due) and not more and again == 0, f"forgot {forgotten}/{len(due)}")
        check(all([await pieces(store, g) == 0 for g in due]), "a due group left pieces behind")
        check(all([await pieces(store, g) == 5 for g in young]), "a group not yet due was touched")
        check(all([await pieces(store, g) == 5 for g in open_]), "an open group was touched")
        print(f"resolved groups saved: {groups} ({len(due)} due), open: {len(open_)}")
        print(f"Redis memory per resolved group of 3 alerts: {per_group:,.0f} bytes")
        print(f"sweep: {forgotten} groups forgotten in {took:.2f} s ({forgotten / took:,.0f}/s)")
        print(f"sweep with nothing due ({len(young)} listed, not yet due): {empty_ms:.1f} ms")
        print("checks: every due group gone whole; every young and open group whole: OK")
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_smoke_flag(parser)
    parser.add_argument("--groups", type=int, default=20_000, help="resolved groups saved")
    args = parser.parse_args()
    asyncio.run(run(200 if args.smoke else args.groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
