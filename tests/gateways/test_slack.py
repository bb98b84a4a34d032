"""The Slack gateway over real HTTP: a post whose answer is lost is neither lost nor doubled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.errors import Unavailable
from bot.gateways.slack import SlackGateway, build_client
from bot.sandbox.doubles.slack import SlackDouble


@pytest.fixture
async def double() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as d:
        yield d


@pytest.fixture
def slack(double: SlackDouble) -> SlackGateway:
    return SlackGateway(build_client(double.bot_token, double.api_url))


@pytest.mark.slow
async def test_a_post_slack_made_but_whose_answer_was_lost_is_adopted(
    double: SlackDouble, slack: SlackGateway
) -> None:
    channel = double.add_channel("incidents")
    double.fail_next("chat.postMessage", lost_answer=True)
    ts = await slack.post_message(channel, "🔥 INC-7 declared")
    [message] = double.messages(channel)
    assert (message["ts"], message["text"]) == (ts, "🔥 INC-7 declared")
    assert len(double.calls("chat.postMessage")) == 1  # looked up, not posted again


@pytest.mark.slow
async def test_a_lost_reply_in_a_thread_is_adopted_too(
    double: SlackDouble, slack: SlackGateway
) -> None:
    channel = double.add_channel("alerts")
    parent = await slack.post_message(channel, "FIRING HighErrorRate")
    double.fail_next("chat.postMessage", lost_answer=True)
    ts = await slack.post_message(channel, "🔎 pods", thread_ts=parent)
    replies = double.thread(channel, parent)[1:]
    assert [(r["ts"], r["text"]) for r in replies] == [(ts, "🔎 pods")]


@pytest.mark.slow
async def test_a_post_that_never_reached_slack_is_made_once(
    double: SlackDouble, slack: SlackGateway
) -> None:
    channel = double.add_channel("incidents")
    double.fail_next("chat.postMessage", drop=True)
    double.fail_next("chat.postMessage", status=502)
    ts = await slack.post_message(channel, "status update")
    assert [m["ts"] for m in double.messages(channel)] == [ts]
    assert [c.status for c in double.calls("chat.postMessage")] == [0, 502, 200]


@pytest.mark.slow
async def test_a_post_slack_keeps_refusing_raises_and_nothing_is_posted(
    double: SlackDouble, slack: SlackGateway
) -> None:
    channel = double.add_channel("incidents")
    double.fail_next("chat.postMessage", times=3, status=503)
    with pytest.raises(Unavailable):
        await slack.post_message(channel, "status update")
    assert double.messages(channel) == []


@pytest.mark.slow
async def test_a_post_is_not_repeated_while_slack_cannot_say_whether_it_was_made(
    double: SlackDouble, slack: SlackGateway
) -> None:
    """The answer is lost and the lookups fail too: the post is not tried blind."""
    channel = double.add_channel("incidents")
    double.fail_next("chat.postMessage", lost_answer=True)
    double.fail_next("conversations.history", times=10, status=503)
    with pytest.raises(Unavailable):
        await slack.post_message(channel, "status update")
    assert len(double.messages(channel)) == 1
    assert len(double.calls("chat.postMessage")) == 1
