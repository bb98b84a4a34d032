"""Every answer Slack gives to a token that will never work stops start-up with one sentence
naming the setting to fix; what may pass (out of reach, a 5xx) does not. (The same through a
real process, a real port and the double's own `invalid_auth`: `tests/test_startup.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import Deps, create_app
from bot.errors import ConfigurationError
from bot.sandbox.doubles.slack import SlackDouble
from bot.settings import Settings
from bot.store.server import RedisHandle

REFUSALS = ["invalid_auth", "account_inactive", "token_revoked", "not_authed"]


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        yield double


def settings(slack: SlackDouble, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": "0123456789abcdef",
        "slack_api_url": slack.api_url,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "redis_prefix": prefix,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def start_fails(config: Settings, redis: RedisHandle) -> str:
    app = create_app(config, Deps(redis=redis))
    try:
        with pytest.raises(ConfigurationError) as refused:
            await app.start()
    finally:
        await app.stop()
    return str(refused.value)


@pytest.mark.parametrize("code", REFUSALS)
async def test_a_refused_bot_token_stops_start_up_naming_it(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str, code: str
) -> None:
    slack.fail_next("auth.test", error=code)
    said = await start_fails(settings(slack, prefix), redis_handle)
    assert said.startswith(f"Slack refused SLACK_BOT_TOKEN ({code}): ")
    assert "\n" not in said and "OAuth & Permissions" in said


@pytest.mark.parametrize("code", [*REFUSALS, "not_allowed_token_type"])
async def test_a_refused_app_token_stops_socket_mode_naming_it(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str, code: str
) -> None:
    slack.fail_next("apps.connections.open", error=code)
    config = settings(slack, prefix, slack_app_token=slack.app_token)
    said = await start_fails(config, redis_handle)
    assert said.startswith(f"Slack refused SLACK_APP_TOKEN ({code}): ")
    assert "connections:write" in said


async def test_a_slack_5xx_at_start_up_is_waited_out(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str
) -> None:
    slack.fail_next("auth.test", times=3, status=503)  # the client's own retries see them all
    app = create_app(settings(slack, prefix), Deps(redis=redis_handle))
    try:
        await app.start()
        assert (await app.readiness())["slack"] is True  # asked again, and it answers now
    finally:
        await app.stop()
