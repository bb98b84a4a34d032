"""A Slack Web API / workspace double serving real HTTP (and Socket Mode) on 127.0.0.1.

Typical pytest use::

    @pytest.fixture
    async def double():
        async with SlackDouble(rate_limits=RateLimits.off()) as d:
            yield d

    async def test_x(double):
        client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
        alice = double.add_user("alice")
        cid = double.add_channel("incidents", members=[alice])
        double.request_url = "http://127.0.0.1:<port>/slack/events"  # the app under test
        await double.slash_command(alice, cid, "db down")
        assert double.ephemerals(user_id=alice)

Method metadata (required arguments, error codes, rate-limit tiers) comes from
``bot/sandbox/doubles/slack_api_ref``.
"""

from __future__ import annotations

from bot.sandbox.doubles.slack.delivery import AppConfig
from bot.sandbox.doubles.slack.double import SlackDouble
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.faults import Fault
from bot.sandbox.doubles.slack.ratelimit import RateLimitMode, RateLimits
from bot.sandbox.doubles.slack.records import CallRecord, Delivery, Ephemeral, ResponseUrlPost
from bot.sandbox.doubles.slack.reference import MethodCatalog, MethodSpec
from bot.sandbox.doubles.slack.socket_mode import NO_ACK_STATUS

__all__ = [
    "NO_ACK_STATUS",
    "AppConfig",
    "CallRecord",
    "Delivery",
    "Ephemeral",
    "Fault",
    "MethodCatalog",
    "MethodSpec",
    "RateLimitMode",
    "RateLimits",
    "ResponseUrlPost",
    "SlackDouble",
    "SlackError",
]
