"""Fixtures: a started Slack double and a real AsyncWebClient pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.doubles.slack import SlackDouble


@pytest.fixture
async def double() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as d:
        yield d


@pytest.fixture
def client(double: SlackDouble) -> AsyncWebClient:
    return AsyncWebClient(token=double.bot_token, base_url=double.api_url)
