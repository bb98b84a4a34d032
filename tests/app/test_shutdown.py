"""Graceful shutdown and repair, with the bot as a real process: SIGTERM in the middle of a
declare (Slack's answer held by the test), and SIGKILL between the card's post and its `ts`
being saved. Redis is the machine's server (a key prefix per test), so what the bot left in it
is read after it exited."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from redis.asyncio import Redis

from bot.sandbox.doubles.slack import SlackDouble
from bot.sandbox.doubles.slack.records import CallRecord
from bot.sandbox.doubles.slack.socket_mode import NO_ACK_STATUS
from tests.conftest import REDIS_URL
from tests.fireline_process import NOISE, Fireline, fireline_env, get, until
from tests.harness import SIGNING_SECRET, Builder, eventually

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        yield double


def bot_env(slack: SlackDouble, tmp_path: Path, prefix: str, **values: str) -> dict[str, str]:
    return fireline_env(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.app.signing_secret,
        SLACK_API_URL=slack.api_url,
        FIRELINE_HTTP_HOST="127.0.0.1",
        FIRELINE_HTTP_PORT="0",
        FIRELINE_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=REDIS_URL,
        FIRELINE_REDIS_PREFIX=prefix,
        **values,
    )


async def incident(redis: Redis, prefix: str, incident_id: str) -> dict[str, Any] | None:
    raw = await redis.get(f"{prefix}incident:{incident_id}")
    return json.loads(raw) if raw else None


def bot_posts(slack: SlackDouble, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("bot_id")]


async def test_sigterm_lets_the_declare_in_flight_finish_and_hands_everything_over(
    tmp_path: Path, slack: SlackDouble, redis_handle: object, redis_server: Redis, prefix: str
) -> None:
    alice = slack.add_user("alice")
    room = slack.add_channel("war-room", members=[alice])
    broadcast = slack.add_channel("incidents", members=[alice])
    env = bot_env(slack, tmp_path, prefix, FIRELINE_BROADCAST_CHANNEL=broadcast)
    run = await Fireline(["serve"], cwd=tmp_path, env=env).start()
    try:
        url = await run.url()
        slack.request_url = f"{url}/slack/events"
        card = slack.hold_next("chat.postMessage")  # the card's post waits for the test
        acked = await slack.slash_command(alice, room, "declare P2 Checkout down")
        assert acked.status == 200
        await asyncio.wait_for(card.reached.wait(), 30)
        lock = f"{prefix}lock:provision:INC-1"
        assert await redis_server.exists(lock), "the set-up holds the incident's lock"
        children = psutil.Process(run.pid).children(recursive=True)

        run.send(signal.SIGTERM)

        async def not_ready() -> bool:
            return (await get(f"{url}/readyz")).status_code == 503

        await until(not_ready, "/readyz to say 503 while it drains")
        turned_away = await slack.slash_command(alice, room, "declare P2 Another outage")
        assert turned_away.status == 503, "new Slack requests go to a replica that stays"
        assert run.process is not None and run.process.returncode is None, "still draining"

        card.release.set()
        assert await run.exit_code() == 0, run.output
    finally:
        await run.kill()
    record = await incident(redis_server, prefix, "INC-1")
    assert record is not None and record["provisioned"] and record["card_ts"]
    channel = record["channel_id"]
    assert [m["ts"] for m in bot_posts(slack, channel)] == [record["card_ts"]]
    assert len(slack.calls("pins.add")) == 1
    assert len(bot_posts(slack, broadcast)) == 1, "the announcement went out too"
    told = [e.text or "" for e in slack.ephemerals(alice)]
    assert any("INC-1" in t and "declared" in t for t in told), told
    assert await incident(redis_server, prefix, "INC-2") is None, "the refused one did nothing"
    assert not await redis_server.exists(lock), "the lock was handed back"
    assert await redis_server.zcard(f"{prefix}jobs:leased") == 0, "no job lease kept"
    assert not [c.pid for c in children if c.is_running() and c.status() != "zombie"]
    for noise in NOISE:
        assert noise not in run.output, run.output


async def test_a_bot_killed_between_the_card_post_and_its_ts_leaves_one_card(
    tmp_path: Path, slack: SlackDouble, redis_handle: object, redis_server: Redis, prefix: str
) -> None:
    """SIGKILL as Slack makes the card (its answer never reaches the bot): the lock the dead
    bot held and its recorded attempt are found by the next bot's periodic repair, which
    adopts the card in Slack instead of posting a second one."""
    alice = slack.add_user("alice")
    room = slack.add_channel("war-room", members=[alice])
    broadcast = slack.add_channel("incidents", members=[alice])
    every_second = {"FIRELINE_REPAIR_INTERVAL_S": "1"}
    env = bot_env(slack, tmp_path, prefix, FIRELINE_BROADCAST_CHANNEL=broadcast, **every_second)
    first = await Fireline(["serve"], cwd=tmp_path, env=env).start()
    killed = asyncio.Event()

    def kill_at_the_card(call: CallRecord) -> None:
        card = call.method == "chat.postMessage" and call.args.get("channel") != broadcast
        if card and not killed.is_set():
            first.send(signal.SIGKILL)
            killed.set()

    slack.on_call(kill_at_the_card)
    try:
        slack.request_url = f"{await first.url()}/slack/events"
        await slack.slash_command(alice, room, "declare P2 Search down")
        assert await first.exit_code() == -signal.SIGKILL
    finally:
        await first.kill()
    before = await incident(redis_server, prefix, "INC-1")
    assert before is not None and before["channel_id"] and not before["card_ts"]
    channel = before["channel_id"]
    assert len(bot_posts(slack, channel)) == 1, "Slack made the card"
    assert await redis_server.exists(f"{prefix}lock:provision:INC-1"), "a dead bot's lock"

    second = await Fireline(["serve"], cwd=tmp_path, env=env).start()
    try:
        await second.url()

        # Finished is set up *and* shown: `provisioned` is written before the card, topic and
        # announcement are drawn and the flag is dropped, and a stop in between leaves those to
        # the next start (on a busy machine the stop below once landed there).
        async def finished() -> bool:
            record = await incident(redis_server, prefix, "INC-1")
            flagged = await redis_server.sismember(f"{prefix}incidents:needs-attention", "INC-1")
            return bool(record and record["provisioned"]) and not flagged

        await until(finished, "the repair to finish INC-1 and Slack to show it", timeout_s=60)
        assert await second.stop() == 0, second.output
    finally:
        await second.kill()
    record = await incident(redis_server, prefix, "INC-1")
    assert record is not None
    assert [m["ts"] for m in bot_posts(slack, channel)] == [record["card_ts"]], "one card"
    assert len(bot_posts(slack, broadcast)) == 1
    assert len(slack.calls("pins.add")) == 1
    assert not await redis_server.sismember(f"{prefix}incidents:needs-attention", "INC-1")


async def test_socket_mode_leaves_new_envelopes_to_another_connection_while_it_drains(
    build: Callable[..., Builder],
) -> None:
    """In Socket Mode a stopping bot acks nothing new (Slack redelivers an unacknowledged
    envelope to a connection that stays), finishes the declare in flight, then closes the
    socket."""
    async with SlackDouble(signing_secret=SIGNING_SECRET, socket_mode=True) as slack:
        builder = build(slack=slack).people("alice").channel("room", "war-room")
        builder = builder.channel("broadcast", "incidents").settings(
            slack_app_token=slack.app_token
        )
        h = await builder.start()
        try:
            await slack.wait_for_socket()
            card = slack.hold_next("chat.postMessage")
            first = await slack.slash_command(h.alice, h.room, "declare P2 Over the socket")
            assert first.via == "socket" and first.status == 200
            await asyncio.wait_for(card.reached.wait(), 30)
            stopping = asyncio.ensure_future(h.app.stop())
            await eventually(lambda: not h.app.services.inflight.accepting, 10, "the drain")
            second = await slack.slash_command(h.alice, h.room, "declare P2 Another")
            assert second.status == NO_ACK_STATUS, "not acknowledged by a stopping bot"
            card.release.set()
            await asyncio.wait_for(stopping, 60)
            incident = await h.app.services.store.get("INC-1")
            assert incident.provisioned and incident.card_ts
            assert await h.app.services.store.list_ids(open_only=False) == ["INC-1"]
            assert h.app.slack_link.socket is None, "the socket was closed"
        finally:
            await h.close()
