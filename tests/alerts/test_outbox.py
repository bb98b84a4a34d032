"""The alert outbox against the Slack double's rate limits: storms, restarts, priorities,
coalescing, a crash between posting and recording, and refusals parked rather than dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import Fireline
from bot.errors import Unavailable
from bot.sandbox.doubles.slack import RateLimits, SlackDouble
from tests.alerts import storm
from tests.harness import SIGNING_SECRET, Builder, Harness, eventually

SCALE = 4.0  # Slack's limits, four times faster, on both sides: a 4-posts-a-second channel


@pytest.fixture
async def limited() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(
        signing_secret=SIGNING_SECRET, rate_limits=RateLimits.scaled(SCALE)
    ) as double:
        yield double


@pytest.fixture
def slack(limited: SlackDouble) -> SlackDouble:
    """Every bot here talks to the rate-limited double."""
    return limited


async def bot(build: Builder, alerts: str = "alerts", **channel: Any) -> Harness:
    """A bot whose alerts go to #`alerts`, at the double's rate scale, as replica-a."""
    return await (
        build.channel("alerts", alerts, **channel)
        .settings(slack_rate_scale=SCALE, alert_storm_threshold=6, instance_name="replica-a")
        .start()
    )


def top_level(slack: SlackDouble, channel: str) -> list[dict[str, Any]]:
    return slack.messages(channel)


def digests(slack: SlackDouble, channel: str) -> list[dict[str, Any]]:
    return [m for m in top_level(slack, channel) if m["text"].startswith("Alert storm:")]


def parents(slack: SlackDouble, channel: str) -> dict[str, dict[str, Any]]:
    """Alert parents by title; fails if any group has two."""
    found: dict[str, dict[str, Any]] = {}
    for message in top_level(slack, channel):
        if message["text"].startswith("Alert storm:"):
            continue
        name = message["text"].split("StormAlert", 1)[1][:3]
        assert name not in found, f"StormAlert{name} has two parents"
        found[name] = message
    return found


def shown_alerts(slack: SlackDouble, channel: str) -> set[str]:
    """Every pod named in an alert thread."""
    shown: set[str] = set()
    for parent in parents(slack, channel).values():
        for reply in slack.thread(channel, parent["ts"])[1:]:
            shown.update(w for w in reply["text"].replace(",", " ").split() if "worker-" in w)
    return {w.split("=", 1)[-1] for w in shown}


def flat(message: dict[str, Any]) -> str:
    text: str = message.get("text", "")
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + text


async def drained(*apps: Fireline, limit_s: float = 60.0) -> None:
    h = apps[0]
    deadline = asyncio.get_running_loop().time() + limit_s
    while await h.services.alerts.alerts.backlog() or await h.outbox.waiting():
        assert asyncio.get_running_loop().time() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_storm_is_one_digest_then_every_thread_without_a_429(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    a = await bot(build())
    b = await a.replica(instance_name="replica-b")
    alerts = a.alerts
    groups, per_group = 24, 3
    try:
        # Alertmanager HA pair: both replicas get every notification, as fast as it can send.
        for n in range(2, per_group + 1):
            for g in range(groups):
                body = storm.notification(g, n)
                await asyncio.gather(a.webhook(body), b.webhook(body))

        # Every group is visible (its parent, or a line in the digest) long before each has its
        # own thread: the groups that came before the backlog built up have their parents.
        def visible() -> dict[str, Any] | None:
            found: list[dict[str, Any] | None] = [*digests(limited, alerts)]
            [digest] = found or [None]
            shown = flat(digest) if digest else ""
            shown += " ".join(m["text"] for m in parents(limited, alerts).values())
            return digest if all(storm.title(g) in shown for g in range(groups)) else None

        digest = await eventually(visible, limit_s=15, what="every group visible")
        assert "storm mode" in flat(digest)
        assert "thread queued" in flat(digest)  # visible there before its own thread exists

        await drained(a.app, b.app)
        assert len(digests(limited, alerts)) == 1
        assert "Alert storm over" in flat(digests(limited, alerts)[0])
        assert len(parents(limited, alerts)) == groups
        wanted = {storm.pod(g, n) for g in range(groups) for n in range(per_group)}
        assert shown_alerts(limited, alerts) == wanted  # nothing lost, nothing doubled
        # The two replicas kept to one channel's rate together: Slack never said 429.
        assert [c for c in limited.calls() if c.status == 429] == []
    finally:
        await a.close()


@pytest.mark.slow
async def test_restart_mid_storm_loses_and_repeats_nothing(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await bot(build())
    alerts = h.alerts
    groups = 16
    for g in range(groups):
        assert (await h.webhook(storm.notification(g, 2)))[0] == 200
    await eventually(lambda: len(parents(limited, alerts)) >= 3, limit_s=10)
    await h.stop()  # mid-storm: most parents and threads are still queued
    assert len(parents(limited, alerts)) < groups

    await h.start()
    try:
        await drained(h.app)
        assert len(parents(limited, alerts)) == groups
        wanted = {storm.pod(g, n) for g in range(groups) for n in range(2)}
        assert shown_alerts(limited, alerts) == wanted
        for parent in parents(limited, alerts).values():
            assert len(limited.thread(alerts, parent["ts"])) == 2  # parent + one listing
    finally:
        await h.close()


@pytest.mark.slow
async def test_successive_changes_are_coalesced_into_one_post(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await bot(build())
    alerts = h.alerts
    h.app.outbox.stop()  # Slack is out of reach for a while: writes wait in the outbox
    await asyncio.sleep(1.2)
    for n in range(2, 7):
        await h.webhook(storm.notification(0, n))
    await inbox_read(h)
    assert limited.calls("chat.postMessage") == []
    await h.stop()

    await h.start()
    try:
        await drained(h.app)
        [parent] = parents(limited, alerts).values()
        assert "6 firing" in flat(parent)  # the latest state, posted once, never edited
        replies = limited.thread(alerts, parent["ts"])[1:]
        assert len(replies) == 1  # five notifications' notes in one reply
        assert all(storm.pod(0, n) in replies[0]["text"] for n in range(6))
        assert limited.calls("chat.update") == []
        assert len([c for c in limited.calls("chat.postMessage") if c.ok]) == 2
    finally:
        await h.close()


@pytest.mark.slow
async def test_incident_posts_go_ahead_of_an_alert_backlog_in_the_same_channel(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    # Alerts and announcements together, in #ops.
    h = await bot(build().people("alice").channel("room", "war-room"), "ops", also=["broadcast"])
    alice, shared = h.alice, h.alerts
    try:
        for g in range(20):
            await h.webhook(storm.notification(g, 2))
        await eventually(lambda: len(parents(limited, shared)) >= 1, limit_s=10)
        await h.declare(alice, "P1 Checkout down")
        announced = await eventually(
            lambda: next(
                (m for m in top_level(limited, shared) if "Checkout down" in m["text"]), None
            ),
            limit_s=5,
            what="the incident's announcement",
        )
        # The announcement went out while the alert backlog was still waiting.
        assert await h.app.outbox.backlog(shared) > 5
        assert announced is not None
        await drained(h.app)
        assert [c for c in limited.calls() if c.status == 429] == []
    finally:
        await h.close()


@pytest.mark.slow
async def test_a_crash_between_posting_and_recording_does_not_post_twice(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await bot(build())
    alerts = h.alerts
    outbox = h.app.outbox
    outbox.stop()
    await asyncio.sleep(1.2)
    await h.webhook(storm.notification(0, 3))
    await inbox_read(h)

    async def crash(*_: object) -> None:
        raise Unavailable("the process died here")

    outbox._record = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(Unavailable):
        await outbox.send(alerts, "parent:" + (await _only_group(h)))
    assert len(top_level(limited, alerts)) == 1  # posted, but the outbox does not know it
    await h.stop()

    await h.start()
    try:
        await drained(h.app)
        assert len(top_level(limited, alerts)) == 1  # found by its marker, not posted again
        [parent] = parents(limited, alerts).values()
        assert len(limited.thread(alerts, parent["ts"])) == 2
        assert limited.calls("conversations.history")  # it looked before posting
    finally:
        await h.close()


async def test_refused_alert_messages_are_parked_and_can_be_retried(
    limited: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await bot(build(), bot_member=False)  # Slack: not_in_channel
    alerts = h.alerts
    try:
        await h.webhook(storm.notification(0, 2))
        parked = await _eventually_parked(h, alerts, 2)
        assert "not_in_channel" in parked[f"parent:{await _only_group(h)}"]
        assert await h.app.outbox.backlog(alerts) == 0  # nothing blocks the channel meanwhile

        assert set(await h.app.outbox.parked_everywhere()) == {alerts}
        limited.ws.channel(alerts).members.append(limited.bot_user_id)
        assert await h.app.outbox.retry_parked(alerts) == 2
        await drained(h.app)
        [parent] = parents(limited, alerts).values()
        assert len(limited.thread(alerts, parent["ts"])) == 2
        assert await h.app.outbox.parked(alerts) == {}
    finally:
        await h.close()


async def inbox_read(h: Harness, limit_s: float = 10.0) -> None:
    """Wait until the alert worker has handled every notification (queued on the outbox)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while await h.app.services.alerts.alerts.backlog():
        assert asyncio.get_running_loop().time() < deadline, "the alert inbox was not read"
        await asyncio.sleep(0.02)


async def _only_group(h: Harness) -> str:
    keys = [
        k
        async for k in h.app.redis.client.scan_iter(
            match=f"{h.app.settings.redis_prefix}alertgroup:*"
        )
    ]
    [key] = [k for k in keys if not k.endswith(b":events")]
    group: str = key.decode().rsplit(":", 1)[1]
    return group


async def _eventually_parked(h: Harness, channel: str, count: int) -> dict[str, str]:
    for _ in range(200):
        parked = await h.app.outbox.parked(channel)
        if len(parked) >= count:
            return parked
        await asyncio.sleep(0.05)
    raise AssertionError(f"not parked: {await h.app.outbox.parked(channel)}")
