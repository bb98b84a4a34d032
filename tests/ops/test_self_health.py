"""Self-health: Fireline losing access to Slack at run time (removed from a configured channel,
a revoked token, a missing scope) is logged at ERROR, counted in /metrics, fails /readyz until
Slack shows it is back, and is told once in the broadcast channel when that is still possible.
Driven through the Slack double: a real removal from a channel, and its fault injection."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.errors import SlackRejected
from tests.alerts.storm import notification
from tests.harness import eventually
from tests.ops.conftest import readyz, scrape, value


def told(h) -> list[str]:
    return [
        m.get("text", "")
        for m in h.slack.messages(h.broadcast)
        if "lost access" in m.get("text", "")
    ]


def errors(caplog: pytest.LogCaptureFixture, code: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR
        and r.name == "bot.gateways.slack_health"
        and code in r.getMessage()
    ]


async def test_removed_from_the_alerts_channel(bots, caplog: pytest.LogCaptureFixture) -> None:
    h = await bots()
    with h.slack.ws.lock:
        h.slack.ws.channels[h.alerts].members.remove(h.slack.bot_user_id)

    assert (await h.webhook(notification(1, 2)))[0] == 200
    await eventually(lambda: h.app.slack_health.problems, what="the problem noticed")
    await eventually(lambda: told(h), what="the broadcast channel told")

    status, body = await readyz(h.app)
    assert status == 503 and body["checks"]["slack_access"] is False
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_slack_access_errors_total", reason="not_in_channel") >= 1
    assert value(samples, "fireline_slack_access_problems", reason="not_in_channel") == 1
    assert errors(caplog, "not_in_channel")
    assert f"<#{h.alerts}>" in told(h)[0] and "/invite" in told(h)[0]

    # It happens again (another alert): still told once.
    assert (await h.webhook(notification(2, 2)))[0] == 200
    await eventually(
        lambda: len(errors(caplog, "not_in_channel")) >= 2, what="the second refusal logged"
    )
    await h.settle()
    assert len(told(h)) == 1

    # Invited back: /readyz asks Slack (conversations.info) and is ready again.
    with h.slack.ws.lock:
        h.slack.ws.channels[h.alerts].members.append(h.slack.bot_user_id)
    status, _ = await readyz(h.app)
    assert status == 503  # not asked again yet: at most every recheck_s
    h.app.slack_health.recheck_s = 0
    status, body = await readyz(h.app)
    assert status == 200, body
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_slack_access_problems", reason="not_in_channel") == 0


async def test_a_revoked_token_fails_readiness_and_is_not_told(bots, caplog) -> None:
    h = await bots()
    h.slack.fail_next("chat.postMessage", error="token_revoked")
    assert (await h.webhook(notification(1, 2)))[0] == 200
    await eventually(lambda: h.app.slack_health.problems, what="the problem noticed")
    await h.settle()

    status, body = await readyz(h.app)
    assert status == 503 and body["checks"]["slack_access"] is False
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_slack_access_errors_total", reason="token_revoked") == 1
    assert errors(caplog, "token_revoked")
    assert told(h) == []  # a revoked token cannot post

    # The token works again (reinstalled): auth.test says so.
    h.app.slack_health.recheck_s = 0
    status, body = await readyz(h.app)
    assert status == 200, body


@pytest.mark.parametrize("code", ["missing_scope", "account_inactive", "invalid_auth"])
async def test_access_codes_from_any_method_count(bots, code: str) -> None:
    h = await bots()
    channel = h.broadcast
    ts = await h.app.services.slack.post_message(channel, "a message to pin")
    h.slack.fail_next("pins.add", error=code)
    with pytest.raises(SlackRejected):
        await h.app.services.slack.pin(channel, ts)
    status, body = await readyz(h.app)
    assert status == 503 and body["checks"]["slack_access"] is False
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_slack_access_errors_total", reason=code) == 1
    if code == "missing_scope":  # told (posting still works); and cleared when pins.add works
        await eventually(lambda: told(h), what="the broadcast channel told")
        assert "pins.add" in told(h)[0] and "reinstall" in told(h)[0]
        await h.app.services.slack.pin(channel, ts)
        assert (await readyz(h.app))[0] == 200
    else:
        await h.settle()
        assert told(h) == []


async def test_replicas_tell_it_once(bots) -> None:
    first = await bots()
    second = await bots()
    for h in (first, second):
        h.slack.fail_next("chat.postMessage", error="channel_not_found")
        with pytest.raises(SlackRejected):
            await h.app.services.slack.post_message(h.alerts, "an alert")
        assert h.app.slack_health.problems
        await eventually(lambda: told(first), what="the broadcast channel told")
        await asyncio.gather(*h.app.slack_health._telling)  # told, or knows it was
    await first.settle()
    await second.settle()
    assert len(told(first)) == 1


async def test_a_channel_fireline_is_not_configured_for_is_not_a_health_problem(bots) -> None:
    h = await bots()
    h.slack.fail_next("chat.postMessage", error="not_in_channel")
    with pytest.raises(SlackRejected):
        await h.app.services.slack.post_message(h.war_room, "a reply in someone's channel")
    assert (await readyz(h.app))[0] == 200
    _, samples = await scrape(h.app)
    assert (
        value(
            samples,
            "fireline_slack_calls_total",
            method="chat.postMessage",
            outcome="not_in_channel",
        )
        == 1
    )
    assert value(samples, "fireline_slack_access_errors_total", reason="not_in_channel") == 0


async def test_joining_the_broadcast_channel_is_not_a_loss(bots, slack, caplog) -> None:
    outside = slack.add_channel("announcements", bot_member=False)
    h = await bots(broadcast=outside)
    await h.declare(h.alice, "P2 Checkout is slow")
    await eventually(lambda: h.slack.messages(outside), what="the announcement")
    assert (await readyz(h.app))[0] == 200
    assert not h.app.slack_health.problems
    assert [r for r in caplog.records if r.name == "bot.gateways.slack_health"] == []


async def test_a_broadcast_channel_fireline_cannot_join_is_a_loss(bots, slack, caplog) -> None:
    outside = slack.add_channel("announcements", bot_member=False)
    h = await bots(broadcast=outside)
    h.slack.fail_next("conversations.join", error="is_archived")
    await h.command(h.alice, "declare P2 Checkout is slow")
    await eventually(lambda: h.app.slack_health.problems, what="the problem noticed")
    status, body = await readyz(h.app)
    assert status == 503 and body["checks"]["slack_access"] is False
    assert errors(caplog, "conversations.join")
    await h.settle()
    assert h.slack.messages(outside) == []  # the channel lost cannot be told
