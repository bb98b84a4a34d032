"""The alert outbox's post marker across a failover, on real Redis processes (a master, two
replicas, three Sentinels: tests/sentinel_cluster.py) and the Slack Web API double.

A post is made once only if a later send can find it: by the marker recorded before it went
out. So the marker must be on a replica before the post leaves (a failover keeps only what a
replica has), and a post whose record then fails is adopted after the failover, not posted
again (docs/decisions/outbox.md, docs/decisions/ha.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from bot.alerts.outbox import Outgoing
from bot.errors import Unavailable
from bot.store.server import RedisHandle
from tests.alerts import storm
from tests.harness import Builder, Harness
from tests.sentinel_cluster import SentinelCluster


async def queued_parent(h: Harness, limit_s: float = 10.0) -> str:
    """Send one group's notification; its parent's slot once the alert worker queued it."""
    await h.webhook(storm.notification(0, 3))
    queue = h.app.outbox.keys.outbox_queue(h.alerts)
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        queued = await h.app.redis.client.zrange(queue, 0, -1)
        slots = [s.decode() for s in queued if isinstance(s, bytes) and s.startswith(b"parent:")]
        if slots:
            return slots[0]
        assert asyncio.get_running_loop().time() < deadline, "the group's parent was not queued"
        await asyncio.sleep(0.02)  # polling, as `eventually` does


def parents(h: Harness) -> list[dict[str, Any]]:
    return [m for m in h.alert_parents() if "StormAlert000" in m.get("text", "")]


@pytest.mark.process
@pytest.mark.slow
async def test_a_parent_is_posted_once_across_a_failover_after_its_record_failed(
    cluster: SentinelCluster, sentinel_redis: RedisHandle, build: Callable[..., Builder]
) -> None:
    h = await build(redis=sentinel_redis).channel("alerts", members=()).start()
    outbox = h.app.outbox
    outbox.stop()  # before anything is queued: the test makes each send
    slot = await queued_parent(h)
    attempts = outbox.keys.outbox_attempts(h.alerts)
    master = await cluster.master_port()
    assert master is not None

    # No replica takes the marker (they stop following; the master keeps taking writes, as
    # one whose replicas lag does): the post must not go out, since a failover now would
    # keep no trace of it and the slot would be posted again.
    replicas = await cluster.replica_ports()
    for replica in replicas:
        await cluster.ask(replica, "REPLICAOF", "NO", "ONE")
    await cluster.ask(master, "CONFIG", "SET", "min-replicas-to-write", "0")

    async def alone() -> bool:
        return await cluster.replicas_of(master) == 0

    await cluster.until(alone, "the master to see its replicas gone")
    with contextlib.suppress(Unavailable):
        await outbox.send(h.alerts, slot)
    assert parents(h) == [], "posted while its marker was on no replica"
    queue = outbox.keys.outbox_queue(h.alerts)
    assert await h.app.redis.client.zscore(queue, slot), "its slot waits for the next send"

    for replica in replicas:
        await cluster.ask(replica, "REPLICAOF", "127.0.0.1", str(master))
    await cluster.ask(master, "CONFIG", "SET", "min-replicas-to-write", "1")
    await cluster.settled()

    # The post goes out and recording it fails (the master dies right after): the marker is
    # on the replicas, so the promoted one knows a post may be in Slack.
    record = outbox._record
    failed: list[str] = []

    async def fails_once(channel: str, slot: str, version: str, ts: str, out: Outgoing) -> None:
        if not failed:
            failed.append(ts)
            raise Unavailable("the master died before the post was recorded")
        await record(channel, slot, version, ts, out)

    outbox._record = fails_once  # type: ignore[method-assign]
    for _ in range(50):  # the master counts its replicas as good again within a second
        with contextlib.suppress(Unavailable):
            await outbox.send(h.alerts, slot)
        if failed:
            break
        await asyncio.sleep(0.1)  # polling until Redis takes writes, as `eventually` does
    assert failed, "the post never went out"
    assert len(parents(h)) == 1
    # WAIT 1: on one replica at least, and Sentinel promotes the one furthest ahead.
    held = [await cluster.ask(replica, "HGET", attempts, slot) for replica in replicas]
    assert any(held), "the marker is on no replica"

    await cluster.kill_master()
    await cluster.settled()
    for _ in range(50):  # the first sends after a failover may meet the old master's sockets
        try:
            await outbox.send(h.alerts, slot)
            break
        except Unavailable:
            await asyncio.sleep(0.1)  # polling until Redis answers, as `eventually` does
    [parent] = parents(h)
    assert parent["ts"] == failed[0], "the post made before the failover is the one kept"
    assert await outbox.sent_ts(slot) == failed[0]
    assert h.slack.calls("conversations.history"), "it looked in Slack before posting"
