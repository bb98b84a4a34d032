"""Nothing lost, nothing twice: restarts, replicas, redeliveries, Slack failures and limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import blockkit as blocks
from bot.sandbox.doubles.slack import RateLimits, SlackDouble
from tests.harness import (
    SIGNING_SECRET,
    Builder,
    Harness,
    eventually,
    post_signed,
    settle_all,
)

REMINDER = "has not been acknowledged yet"


def responders(build: Builder, *people: str) -> Builder:
    """`people` in #war-room (`h.room`) and in #incidents, the broadcast channel."""
    return build.people(*people).channel("room", "war-room").channel("broadcast", "incidents")


async def test_redelivery_to_two_replicas_declares_once(
    slack: SlackDouble, build: Callable[..., Builder]
) -> None:
    # Nobody acknowledges, so the P0's reminder is due at once (declaring is no ack here).
    h = await responders(build(), "alice").settings(declare_acknowledges=False).start()
    alice, room, broadcast = h.alice, h.room, h.broadcast
    first, second = h.app, (await h.replica()).app
    slack.request_url = f"{first.url}/slack/events"
    try:
        delivery = await slack.slash_command(alice, room, "declare P0 Database unreachable")
        form = {k: str(v) for k, v in delivery.payload.items()}
        # Slack (or a Socket Mode reconnect) hands the same request to both replicas at once.
        statuses = await asyncio.gather(
            post_signed(f"{first.url}/slack/events", form),
            post_signed(f"{second.url}/slack/events", form),
        )
        assert list(statuses) == [200, 200]
        await settle_all(first, second)
        assert await first.services.store.list_ids(open_only=False) == ["INC-1"]
        assert len(slack.calls("conversations.create")) == 1
        incident = await first.services.store.get("INC-1")
        channel = incident.channel_id
        assert channel is not None
        # A P0's acknowledgement deadline is 0: its reminder is due at once, on either
        # replica's scheduler. Wait for it rather than count before or after it by luck.
        await eventually(
            lambda: any(REMINDER in m["text"] for m in slack.messages(channel)),
            10.0,
            "the P0 acknowledgement reminder",
        )
        await settle_all(first, second)
        bot_posts = [m["text"] for m in slack.messages(channel) if m.get("bot_id")]
        assert len(bot_posts) == 2, bot_posts  # one card and one reminder
        assert len([t for t in bot_posts if REMINDER in t]) == 1
        assert len(slack.messages(broadcast)) == 1  # one announcement
        assert len(slack.calls("pins.add")) == 1
    finally:
        await h.close()


@pytest.mark.process
@pytest.mark.slow
async def test_restart_keeps_incidents_cards_and_timeline_embedded_redis(
    build: Callable[..., Builder], tmp_path: Path
) -> None:
    """REDIS_URL unset: the bot runs its own Redis under the data dir; a restart loses nothing."""
    data = tmp_path / "data"
    builder = responders(build(redis=None), "alice", "bob")
    h = await builder.settings(data_dir=data, declare_acknowledges=False).start()
    alice, bob = h.alice, h.bob
    incident_id, channel = await h.declare(alice, "P1 Checkout down")
    await h.command(alice, "note Suspect deploy 42", channel)
    card_ts = h.card(channel)["ts"]
    await h.stop()

    app = await h.start()
    try:
        await h.command(bob, "ack", channel)
        await h.told(bob, f"{incident_id}: acknowledged")
        assert h.card(channel)["ts"] == card_ts and "Acknowledged" in h.card_text(channel)
        texts = [e.text for e in await app.services.store.timeline(incident_id)]
        assert texts[0].startswith("Declared P1") and f"📝 <@{alice}>: Suspect deploy 42" in texts
        assert texts[-1] == f"Acknowledged by <@{bob}>"
        second_id, _ = await h.declare(alice, "P3 Typo")
        assert second_id == "INC-2"
    finally:
        await h.close()


@pytest.mark.slow
async def test_slack_outage_during_declare_is_told_and_finished_later(harness: Harness) -> None:
    h = harness
    h.slack.fail_next("conversations.create", times=10, status=503)
    await h.command(h.alice, "declare P1 Search down")
    await h.told(h.alice, "INC-1 is recorded, but Slack did not finish setting it up")
    await h.command(h.alice, "status INC-1")
    await h.told(h.alice, "Slack set-up incomplete")
    h.slack.faults.clear()

    assert await h.app.services.store.flagged() == ["INC-1"]
    assert await h.app.services.incidents.reconcile(everything=False) == 1
    assert await h.app.services.store.flagged() == []
    incident = await h.app.services.store.get("INC-1")
    assert incident.provisioned and incident.channel_id
    assert "INC-1" in h.card_text(incident.channel_id)
    assert len(h.slack.messages(h.broadcast)) == 1


async def test_slack_refusal_is_explained_and_nothing_is_half_done(
    unacknowledged: Harness,
) -> None:
    h = unacknowledged
    incident_id, channel = await h.declare(h.alice, "P2 Slow builds")
    h.slack.fail_next("chat.update", times=1, error="channel_not_found")
    await h.command(h.bob, "ack", channel)
    await h.told(h.bob, f"{incident_id}: acknowledged")  # saved, whatever Slack said
    incident = await h.app.services.store.get(incident_id)
    assert incident.acknowledged_at is not None
    assert incident.rendered_version < incident.version  # the card is known to be stale
    assert await h.app.services.store.flagged() == [incident_id]
    await h.app.services.incidents.reconcile(everything=False)
    assert "Acknowledged" in h.card_text(channel)


@pytest.mark.slow
async def test_rate_limited_posts_are_retried_not_lost(build: Callable[..., Builder]) -> None:
    async with SlackDouble(
        signing_secret=SIGNING_SECRET, rate_limits=RateLimits.real(post_burst=2)
    ) as slack:
        h = await responders(build(slack=slack), "alice").start()
        alice, broadcast = h.alice, h.broadcast
        try:
            _, channel = await h.declare(alice, "P1 Noisy")
            for n in range(4):
                await slack.slash_command(alice, channel, f"update step {n}")
            await h.settle()
            assert any(c.status == 429 for c in slack.calls("chat.postMessage"))
            posted = [m["text"] for m in slack.messages(broadcast)]
            assert sum("step" in t for t in posted) == 4
        finally:
            await h.close()


async def test_socket_mode_declares_like_http(build: Callable[..., Builder]) -> None:
    async with SlackDouble(signing_secret=SIGNING_SECRET, socket_mode=True) as slack:
        builder = responders(build(slack=slack), "alice").settings(
            slack_app_token=slack.app_token, declare_acknowledges=False
        )
        h = await builder.start()
        alice, room, app = h.alice, h.room, h.app
        try:
            await slack.wait_for_socket()
            delivery = await slack.slash_command(alice, room, "declare P1 Over the socket")
            assert delivery.via == "socket"
            await h.settle()
            _, channel = await h.declare(alice, "P2 Second one")
            await h.slack.click_button(alice, channel, h.card(channel)["ts"], blocks.ACK, "INC-2")
            await h.settle()
            assert "Acknowledged" in h.card_text(channel)
            assert await app.services.store.list_ids(open_only=True) == ["INC-1", "INC-2"]
        finally:
            await h.close()


async def test_taken_channel_name_gets_a_suffix(harness: Harness) -> None:
    h = harness
    day = time.strftime("%Y%m%d", time.gmtime())
    # Someone made a channel of that name today (as a person, with people in it).
    taken = h.slack.ws.add_channel(f"inc-{day}-checkout-down", creator=h.bob, members=[h.bob]).id
    _, channel = await h.declare(h.alice, "P1 Checkout down")
    assert channel != taken
    assert h.slack.channel(channel)["name"] == f"inc-{day}-checkout-down-2"
    # The bot's own channel for an earlier incident of the same title is not adopted either.
    _, again = await h.declare(h.bob, "P2 Checkout down")
    assert h.slack.channel(again)["name"] == f"inc-{day}-checkout-down-3"


async def test_crash_after_channel_create_adopts_the_channel(harness: Harness) -> None:
    """The bot created the channel, then died before saving its ID: no second channel."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.incident import Severity, declared_entry
    from bot.store.store import new_incident

    h = harness
    services = h.app.services
    template = new_incident(
        title="Disk full", severity=Severity.P1, reporter=h.alice, now=services.clock.now()
    )
    incident, _ = await services.store.create_incident(
        "t-crash", template, declared_entry(template)
    )
    name = f"inc-{incident.created_at.strftime('%Y%m%d')}-disk-full"
    await services.store.mutate(
        incident.id, lambda i: (i.model_copy(update={"channel_name": name}), []), bump=False
    )
    client = AsyncWebClient(token=h.slack.bot_token, base_url=h.slack.api_url)
    created = await client.conversations_create(name=name)  # as the bot, before the "crash"

    await services.incidents.reconcile()
    incident = await services.store.get(incident.id)
    assert incident.channel_id == created["channel"]["id"] and incident.provisioned
    assert [c.name for c in h.slack.ws.channels.values() if "disk-full" in c.name] == [name]
    assert incident.channel_id is not None
    assert "Disk full" in h.card_text(incident.channel_id)


async def card_answer_lost(h: Harness) -> str:
    """Declare INC-1 while Slack makes the card but loses its answer and every look-up for it
    fails: the set-up stops (the person is told) with no card recorded. Its channel."""
    h.slack.fail_next("chat.postMessage", lost_answer=True)
    h.slack.fail_next("conversations.history", times=50, drop=True)
    await h.command(h.alice, "declare P2 Search slow")
    await h.told(h.alice, "INC-1 is recorded, but Slack did not finish setting it up")
    incident = await h.app.services.store.get("INC-1")
    assert incident.channel_id and not incident.card_ts
    return incident.channel_id


@pytest.mark.slow
async def test_a_lost_card_post_whose_look_up_failed_is_adopted_not_posted_again(
    harness: Harness,
) -> None:
    """Slack makes the card but its answer is lost, and every look-up for it fails: the
    set-up stops (the person is told), and the repair finds the card it recorded before
    posting, so the channel never shows two cards."""
    h = harness
    channel = await card_answer_lost(h)
    assert len([m for m in h.slack.messages(channel) if m.get("bot_id")]) == 1

    h.slack.faults.clear()
    assert await h.app.services.incidents.reconcile(everything=False) == 1
    incident = await h.app.services.store.get("INC-1")
    cards = [m for m in h.slack.messages(channel) if m.get("bot_id")]
    assert [m["ts"] for m in cards] == [incident.card_ts], "the card Slack made, adopted"
    assert incident.provisioned and await h.app.services.store.flagged() == []


@pytest.mark.slow
async def test_an_adopted_card_is_redrawn_with_what_changed_since_it_was_posted(
    harness: Harness,
) -> None:
    """The card Slack made while its answer was lost shows the incident as it was then; the
    repair that adopts it later must draw what changed since (here the severity), not take it
    as current."""
    h = harness
    channel = await card_answer_lost(h)
    assert "[P2]" in h.card(channel)["text"]

    await h.command(h.alice, "severity INC-1 P1", channel)
    assert (await h.app.services.store.get("INC-1")).severity == "P1"
    h.slack.faults.clear()
    await h.app.services.incidents.reconcile(everything=False)
    await h.app.services.incidents.reconcile(everything=False)  # the next pass, as repair runs
    incident = await h.app.services.store.get("INC-1")
    cards = [m for m in h.slack.messages(channel) if m.get("bot_id") and m.get("blocks")]
    assert [m["ts"] for m in cards][:1] == [incident.card_ts], "the card Slack made, adopted"
    await eventually(lambda: "[P1]" in h.card(channel)["text"], what="the adopted card at P1")


async def test_a_lock_left_by_a_dead_worker_keeps_the_incident_flagged_until_it_expires(
    harness: Harness,
) -> None:
    """A set-up interrupted with its lock left behind is not reported as done: the repair
    leaves it flagged while the lock lives, and finishes it once the lock is gone."""
    h = harness
    store = h.app.services.store
    h.slack.fail_next("conversations.create", times=10, status=503)
    await h.command(h.alice, "declare P2 Queue stuck")
    await h.told(h.alice, "INC-1 is recorded, but Slack did not finish setting it up")
    h.slack.faults.clear()
    stale = store.keys.lock("provision:INC-1")
    await store.redis.set(stale, "a-dead-worker", px=60_000)

    assert await h.app.services.incidents.reconcile(everything=False) == 0
    assert await store.flagged() == ["INC-1"], "not done, so not unflagged"
    assert not (await store.get("INC-1")).provisioned

    await store.redis.delete(stale)  # what its TTL does
    assert await h.app.services.incidents.reconcile(everything=False) == 1
    assert (await store.get("INC-1")).provisioned and await store.flagged() == []
