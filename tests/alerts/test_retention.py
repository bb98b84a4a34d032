"""Retention of alert state: a resolved group, what its thread showed and the outbox's record
of it are forgotten after `FIRELINE_ALERT_RETENTION`, and never anything still live (an open
group, a group re-opened, a group with outbox work waiting or being changed). Real Redis, the
bot on a manual clock: the hourly sweep is a scheduler job run by moving time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.payload import parse
from bot.alerts.writer import digest_slot, parent_slot, thread_slot
from tests.clock import ManualClock
from tests.harness import Builder, Harness

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"
DAY = 86400.0
FIRING = (FIXTURES / "firing-single.json").read_bytes()
RESOLVED = (FIXTURES / "resolved-single.json").read_bytes()
GROUP = parse(FIRING).group_id


async def bot(build: Builder, **alerts_channel: Any) -> Harness:
    return await (
        build.people("alice").channel("alerts", **alerts_channel).clock(ManualClock()).start()
    )


async def held(h: Harness, group_id: str = GROUP) -> dict[str, bool]:
    """Which of the group's pieces Redis still holds."""
    redis, keys = h.app.redis.client, h.app.services.store.keys
    group = await h.app.services.alerts.alerts.get_group(group_id)
    parent_ts = group.parent_ts if group else None
    return {
        "group": group is not None,
        "seen": bool(await redis.exists(keys.alert_events(group_id))),
        "parent index": bool(
            parent_ts and await redis.exists(keys.alert_group_by_parent(h.alerts, parent_ts))
        ),
        "sent parent": bool(await redis.hexists(keys.outbox_sent, parent_slot(group_id))),
        "sent thread": bool(await redis.hexists(keys.outbox_sent, thread_slot(group_id))),
        "listed": await redis.zscore(keys.alerts_retired, f"group:{group_id}") is not None,
    }


async def after(h: Harness, seconds: float) -> None:
    """Move the bot's clock on and let the jobs due by then (the sweep) run."""
    h.manual_clock.advance(seconds)
    await h.idle()


async def send(h: Harness, body: bytes) -> None:
    assert (await h.webhook(body))[0] == 200
    await h.alerts_done()


def refiring() -> bytes:
    """The same group's alert firing again, later (a new `startsAt`: a new event)."""
    data = json.loads(FIRING)
    for alert in data["alerts"]:
        alert["startsAt"] = "2026-12-30T10:00:00Z"
    return json.dumps(data).encode()


async def test_a_resolved_group_is_forgotten_after_the_retention_and_not_before(
    build: Callable[..., Builder],
) -> None:
    h = await bot(build())
    await send(h, FIRING)
    await send(h, RESOLVED)
    [parent] = h.alert_parents()
    assert await held(h) == dict.fromkeys(
        ("group", "seen", "parent index", "sent parent", "sent thread", "listed"), True
    )

    await after(h, 29 * DAY)
    assert all((await held(h)).values()), "forgotten before its 30 days"

    await after(h, DAY + 3600)
    assert not any((await held(h)).values()), await held(h)
    # Slack keeps the thread as it was, with no button left to click on a forgotten group;
    # the same group firing again is a new thread.
    [kept] = h.alert_parents()
    assert kept["ts"] == parent["ts"]
    assert not [b for b in kept["blocks"] if b["type"] == "actions"]
    await send(h, refiring())
    assert len(h.alert_parents()) == 2


async def test_an_open_group_or_one_that_fired_again_is_never_forgotten(
    build: Callable[..., Builder],
) -> None:
    h = await bot(build())
    await send(h, FIRING)
    await after(h, 90 * DAY)
    assert (await held(h))["group"] and (await held(h))["seen"]
    assert not (await held(h))["listed"]

    await send(h, RESOLVED)
    assert (await held(h))["listed"]
    await after(h, 10 * DAY)
    await send(h, refiring())  # open again: off the list, in the same step as the save
    assert not (await held(h))["listed"]
    await after(h, 60 * DAY)
    state = await held(h)
    assert state["group"] and state["seen"] and state["sent parent"], state
    group = await h.app.services.alerts.alerts.get_group(GROUP)
    assert group is not None and group.status == "firing"


async def test_a_group_whose_outbox_work_is_waiting_is_kept_until_it_is_done(
    build: Callable[..., Builder],
) -> None:
    h = await bot(build(), bot_member=False)  # Slack refuses: the group's writes are parked
    await send(h, FIRING)
    await send(h, RESOLVED)
    outbox = h.app.outbox
    assert parent_slot(GROUP) in await outbox.parked(h.alerts)

    await after(h, 31 * DAY)
    state = await held(h)
    assert state["group"] and state["seen"] and state["listed"], "parked work was dropped"

    h.slack.ws.channel(h.alerts).members.append(h.slack.bot_user_id)
    assert await outbox.retry_parked(h.alerts) >= 1
    await h.alerts_done()
    assert h.alert_parents(), "the parked parent is posted once retried"
    await after(h, 3600)
    assert not any((await held(h)).values()), await held(h)


async def test_a_group_being_changed_is_kept_for_the_next_sweep(
    build: Callable[..., Builder],
) -> None:
    h = await bot(build())
    await send(h, FIRING)
    await send(h, RESOLVED)
    h.manual_clock.advance(31 * DAY)
    retention = h.app.retention
    async with h.app.services.store.lock(f"alertgroup:{GROUP}") as locked:
        assert locked
        assert await retention.sweep() == (0, False)
        assert (await held(h))["group"]
    assert await retention.sweep() == (1, False)
    assert not any((await held(h)).values())


async def test_a_storm_digest_is_forgotten_once_the_storm_is_over_and_old(
    build: Callable[..., Builder],
) -> None:
    h = await bot(build())
    redis, keys, channel = h.app.redis.client, h.app.services.store.keys, h.alerts
    now = h.manual_clock.now().timestamp()
    # Storm 1 ended 31 days ago; storm 2 is still on (listed by mistake: it must stay).
    await redis.hset(keys.storm(channel), mapping={"on": "1", "number": "2"})
    for number in (1, 2):
        slot = digest_slot(channel, number)
        await redis.zadd(keys.storm_groups(channel, number), {"g1": now})
        await redis.hset(keys.outbox_sent, slot, f"1700000000.00000{number}")
        await redis.zadd(keys.alerts_retired, {slot: now - 31 * DAY})

    assert await h.app.retention.sweep() == (1, False)
    assert not await redis.exists(keys.storm_groups(channel, 1))
    assert not await redis.hexists(keys.outbox_sent, digest_slot(channel, 1))
    assert await redis.exists(keys.storm_groups(channel, 2))
    assert await redis.hexists(keys.outbox_sent, digest_slot(channel, 2))


@pytest.mark.parametrize("value", ["0", "30m", "forever"])
def test_a_retention_below_an_hour_or_unreadable_stops_the_start(value: str) -> None:
    from bot.errors import ConfigurationError
    from bot.settings import load_settings

    with pytest.raises(ConfigurationError, match="FIRELINE_ALERT_RETENTION"):
        load_settings(
            SLACK_BOT_TOKEN="xoxb-1-2-abc",
            SLACK_SIGNING_SECRET="0123456789abcdef",
            FIRELINE_ALERT_RETENTION=value,
        )
