"""A Sentinel failover (the master's machine lost: SIGKILL) in the middle of a burst of
declares, button clicks (acknowledge, and an approval clicked again and again) and Alertmanager
alerts, driven through the harness on real Redis processes (a master, two replicas, three
Sentinels: tests/sentinel_cluster.py).

Afterwards: everything a person was told is done is in Redis on the new master, nothing was
done twice (one incident and one channel per declaration, one restart, one thread per alert
group), and the bot carries on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from bot.alerts.service import RETRY_PAUSE_S
from bot.blockkit import ACK
from bot.incident import Status
from bot.remediation import views as approval_blocks
from bot.remediation.runner import RUN
from bot.store.server import RedisHandle
from tests.alerts.storm import notification
from tests.harness import Builder, Harness, eventually
from tests.remediation.world import approval_card, approval_cards, remediation_world, writes
from tests.sentinel_cluster import SentinelCluster

WAVES_BEFORE, WAVES_AFTER = 2, 2
FAILED = ("did not happen", "could not be confirmed")


async def alertmanager_sends(w: Harness, group: int) -> int:
    """POST a group's notification as Alertmanager does: again after a 5xx (up to 40 times,
    0.25 s apart, as its retry with backoff would); the last status."""
    status = 0
    for _ in range(40):
        status, _ = await w.webhook(notification(group, 2))
        if status == 200:
            return status
        await asyncio.sleep(0.25)  # Alertmanager's own pause between tries, not a wait for a result
    return status


MOVE_AT_MOST_S = 150.0
"""How far `time_passes` may move the bot's clock: with the lease's minute, still before any
incident's first checklist is due (5 minutes)."""


async def time_passes(w: Harness, limit_s: float = 30.0) -> None:
    """What failed in the failover is tried again after a pause on the bot's clock (a job's
    backoff, the scheduler's and the alert worker's pauses after a Redis error), a ManualClock
    only the test moves. Whenever the bot has nothing running, move it one pause on, as time
    would pass, until the approved restart's run is done and every accepted notification is
    shown (or `limit_s` of real time: locks and leases in Redis expire in real time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    alerts, queue = w.app.services.alerts.alerts, w.app.scheduler.queue
    moved = 0.0
    while True:
        assert await w.app.drain(limit_s), "the bot did not finish its work"
        busy = {
            "restart run": await queue.get(f"remediation:R-1:{RUN}"),
            "alert inbox": await alerts.backlog(),
            "outbox": await w.app.outbox.waiting(),
        }
        if not any(busy.values()):
            return
        assert loop.time() < deadline, f"not done after {moved:.0f} s of the bot's time: {busy}"
        if not w.app.scheduler.busy and moved < MOVE_AT_MOST_S:
            w.manual_clock.advance(RETRY_PAUSE_S)
            moved += RETRY_PAUSE_S
        await asyncio.sleep(0.05)  # polling, as `eventually` does


def failures(w: Harness, user: str) -> list[str]:
    return [t for t in w.ephemeral_texts(user) if any(f in t for f in FAILED)]


@pytest.mark.process
@pytest.mark.slow
async def test_a_failover_in_a_burst_loses_nothing_told_and_does_nothing_twice(
    cluster: SentinelCluster, sentinel_redis: RedisHandle, build: Callable[..., Builder]
) -> None:
    # Acknowledge clicks are part of the burst: the declarer's own declaration is not acknowledged.
    builder = build(redis=sentinel_redis).settings(declare_acknowledges=False)
    w = await remediation_world(builder.channel("alerts", members=()))
    store = w.app.services.store

    # Before the burst: incidents to acknowledge, and a restart waiting for approval.
    cards = [await w.declare(w.cleo, f"P2 standing {n}") for n in range(3)]
    _, fix_channel = cards[0]
    await w.command(w.rita, "restart task-service", channel=fix_channel)
    await eventually(lambda: approval_cards(w, fix_channel), what="the approval card")
    approval = approval_card(w, fix_channel)
    shown = {channel: w.card(channel) for _, channel in cards}
    """What the clickers' Slack shows: clicks in later waves are on these copies, as a person's
    stale client sends them after the first click changed the message."""

    statuses: dict[int, int] = {}
    declared: list[str] = []

    async def wave(n: int) -> None:
        """Two declares, an acknowledge click, an approve click and an alert group, at once."""
        incident_id, channel = cards[n % len(cards)]
        card = shown[channel]
        work: list[Awaitable[object]] = [
            w.slack.slash_command(w.cleo, w.room, f"declare P2 burst {n}a"),
            w.slack.slash_command(w.otto, w.room, f"declare P3 burst {n}b"),
            w.slack.click_button(w.otto, channel, card["ts"], ACK, incident_id, message=card),
            w.slack.click_button(
                w.apollo, fix_channel, approval["ts"], approval_blocks.APPROVE, message=approval
            ),
        ]
        declared.extend([f"burst {n}a", f"burst {n}b"])
        alert = asyncio.ensure_future(alertmanager_sends(w, n))
        await asyncio.gather(*work)
        statuses[n] = await alert

    waves = WAVES_BEFORE + WAVES_AFTER + 2
    for n in range(WAVES_BEFORE):
        await wave(n)
    failover = asyncio.ensure_future(cluster.kill_master())
    n = WAVES_BEFORE
    while not failover.done() or n < waves:  # during the failover, and some after
        await wave(n)
        n += 1
    await failover
    await cluster.settled()
    # A job whose completion the failover refused stays leased until its lease runs out; then
    # another run picks it up (the bot's clock is a ManualClock: that time passes here).
    w.manual_clock.advance(w.app.scheduler.lease_s + 1)
    await time_passes(w)

    # Declarations: each one confirmed is recorded, with one channel; none was made twice.
    incidents = await store.list_incidents(open_only=False)
    titles = [i.title for i in incidents]
    assert len(titles) == len(set(titles)), f"an incident recorded twice: {sorted(titles)}"
    confirmed = 0
    for person in (w.cleo, w.otto):
        for text in w.ephemeral_texts(person):
            if " declared as " not in text:
                continue
            incident_id = text.split(" ")[0]
            incident = await store.get(incident_id)  # raises if lost
            assert f"<#{incident.channel_id}>" in text, (text, incident)
            confirmed += 1
    # Not vacuous: declarations went through (after the failover: the last check below).
    assert confirmed >= WAVES_BEFORE, w.ephemeral_texts(w.cleo) + w.ephemeral_texts(w.otto)
    burst = [c.name for c in w.slack.ws.channels.values() if "burst" in c.name]
    assert not any(n.endswith("-2") for n in burst), f"a second channel: {sorted(burst)}"

    # Acknowledge clicks: an incident still not acknowledged was answered with a failure.
    not_acked = [i for i, _ in cards if (await store.get(i)).status == Status.DECLARED]
    assert len(not_acked) <= len(failures(w, w.otto)), (not_acked, failures(w, w.otto))

    # The approval, clicked in every wave: one restart, applied once, recorded as approved.
    record = await w.app.remediation.records.get("R-1") if w.app.remediation else None
    assert record is not None and record.approver == w.apollo, record
    restarts = writes(w, "patch", "deployments/task-service")
    assert len(restarts) == 1, (record.state, record.reason, w.ephemeral_texts(w.apollo))

    # Alerts: every group Alertmanager got a 200 for has one thread parent, once.
    parents = [json.dumps(m) for m in w.alert_parents()]
    for group, status in statuses.items():
        assert status == 200, f"group {group} was never accepted: Alertmanager would keep trying"
        name = f"StormAlert{group:03d}"
        threads = [p for p in parents if name in p]
        assert len(threads) == 1, f"{name}: {len(threads)} parents"

    # The bot carries on: a declaration after the failover goes through end to end.
    incident_id, channel = await w.declare(w.cleo, "P2 after the failover")
    assert (await store.get(incident_id)).channel_id == channel
    assert await w.app.services.store.ping()
