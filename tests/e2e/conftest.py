from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.e2e.harness import SIGNING_SECRET, WEBHOOK_TOKEN, Harness, start_bot


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


@pytest.fixture
async def harness(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[Harness]:
    alice, bob, carol = (slack.add_user(n) for n in ("alice", "bob", "carol"))
    war_room = slack.add_channel("war-room", members=[alice, bob, carol])
    broadcast = slack.add_channel("incidents", members=[alice, bob, carol], bot_member=False)
    alerts = slack.add_channel("alerts", members=[alice, bob, carol])
    app = await start_bot(
        slack, broadcast, redis_handle, prefix, alerts_channel=alerts, webhook_token=WEBHOOK_TOKEN
    )
    yield Harness(slack, app, alice, bob, carol, war_room, broadcast, alerts)
    await app.stop()
