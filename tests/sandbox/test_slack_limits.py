"""The sandbox's Slack keeps Slack's rate limits, per minute of sandbox time, and the bot copes
with its 429s there as it does with Slack's (docs/decisions/sandbox.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.sandbox.alerts import AlertExample
from bot.sandbox.world import Sandbox, SandboxOptions
from bot.store.server import RedisHandle
from tests.harness import eventually

STORM = 7


@pytest.fixture
async def slow_sandbox(redis_handle: RedisHandle, prefix: str) -> AsyncIterator[Sandbox]:
    """At ×1 (Slack's own rates), with a bot that believes Slack allows 50 times more: the
    workspace's limits, not the bot's own pacing, decide what gets through."""
    options = SandboxOptions(
        speed=1.0,
        http_port=0,
        redis=redis_handle,
        redis_prefix=prefix,
        settings={"slack_rate_scale": 50.0},
        real_alertmanager=False,
    )
    world = await Sandbox(options).start()
    yield world
    await world.stop()


async def test_the_workspace_answers_429_with_retry_after_past_slacks_limits(
    slow_sandbox: Sandbox,
) -> None:
    """conversations.info is Tier 3 (50 a minute, bursts of 10): 20 calls in a row are more
    than Slack allows unless they take 12 s."""
    slack = slow_sandbox.slack
    channel = slow_sandbox.channels["war-room"]
    headers = {"Authorization": f"Bearer {slack.bot_token}"}
    async with httpx.AsyncClient(base_url=slack.api_url, headers=headers) as http:
        posted = await http.post("chat.postMessage", json={"channel": channel, "text": "hi"})
        ts = posted.json()["ts"]
        answers = [
            await http.post("conversations.info", json={"channel": channel}) for _ in range(20)
        ]
    assert posted.json()["ok"] is True and ts
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 5
    assert limited[0].json()["error"] == "ratelimited"
    assert int(limited[0].headers["Retry-After"]) >= 1


@pytest.mark.slow
async def test_an_alert_storm_is_throttled_by_the_workspace_and_nothing_is_lost(
    slow_sandbox: Sandbox,
) -> None:
    sandbox, slack = slow_sandbox, slow_sandbox.slack
    alerts = sandbox.channels["alerts"]
    for i in range(STORM):
        example = AlertExample(
            f"storm {i}", f"SandboxStorm{i}", {"namespace": "orion-prod", "severity": "warning"}
        )
        assert await sandbox.fire_alert(example) < 300

    def posted() -> list[str]:
        names = [m.get("text", "") for m in slack.messages(alerts)]
        return [n for n in names if "SandboxStorm" in n]

    await eventually(lambda: len(posted()) >= STORM, 45.0, "every alert of the storm posted")
    refused = [c for c in slack.calls("chat.postMessage") if c.status == 429]
    assert refused, "a storm in one channel goes past Slack's one post a second"
    for i in range(STORM):  # each alert posted once, whatever was retried
        assert sum(f"SandboxStorm{i}" in text for text in posted()) == 1
