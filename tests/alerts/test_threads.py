"""Alertmanager notifications as Slack threads: one parent per group, edits, replies, buttons."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.alerts import views as alert_blocks
from bot.blockkit import unescape
from bot.sandbox.doubles.slack import SlackDouble
from tests.harness import Builder, Harness

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def flat(message: dict[str, Any]) -> str:
    text: str = message.get("text", "")
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + text


async def test_webhook_needs_the_bearer_token_and_a_valid_payload(harness: Harness) -> None:
    h = harness
    assert (await h.webhook(fixture("firing-single.json"), token=None))[0] == 401
    assert (await h.webhook(fixture("firing-single.json"), token="wrong-token-wrong"))[0] == 401
    status, body = await h.webhook(b'{"version": "4", "status": "firing"}')
    assert status == 400 and "groupKey" in body["error"]
    await h.alerts_done()
    assert h.alert_parents() == []


async def test_firing_then_repeat_then_resolved_is_one_thread(harness: Harness) -> None:
    h = harness
    assert (await h.webhook(fixture("firing-single.json")))[0] == 200
    await h.alerts_done()
    [parent] = h.alert_parents()
    shown = unescape(flat(parent))
    for fragment in (
        "FIRING",
        "critical",
        "HighErrorRate",
        "Error rate > 5%",
        "1 firing",
        "runbooks.example.com/high-error-rate",
        "service=task-service",
    ):
        assert fragment in shown, fragment

    # Alertmanager repeats the notification (and its HA twin sends it too): nothing new.
    for _ in range(2):
        assert (await h.webhook(fixture("firing-single.json")))[0] == 200
    await h.alerts_done()
    assert len(h.alert_parents()) == 1 and h.slack.thread(h.alerts, parent["ts"])[1:] == []

    assert (await h.webhook(fixture("resolved-single.json")))[0] == 200
    await h.alerts_done()
    [parent] = h.alert_parents()
    assert "RESOLVED" in flat(parent) and "0 firing · 1 resolved" in flat(parent)
    replies = h.slack.thread(h.alerts, parent["ts"])[1:]
    assert len(replies) == 1 and "All alerts in this group are resolved" in replies[0]["text"]
    assert not [b for b in parent["blocks"] if b["type"] == "actions"]


async def test_a_group_of_three_is_one_parent_listing_each(harness: Harness) -> None:
    h = harness
    await h.webhook(fixture("firing-group-of-3.json"))
    await h.alerts_done()
    [parent] = h.alert_parents()
    assert "3 firing" in flat(parent) and "PodMemoryGrowing" in flat(parent)
    [listing] = h.slack.thread(h.alerts, parent["ts"])[1:]
    for pod in ("abc12", "def34", "ghi56"):
        assert pod in listing["text"]

    # One pod's alert resolves: a reply for it alone, the parent's counts change.
    data = json.loads(fixture("firing-group-of-3.json"))
    data["alerts"][0]["status"] = "resolved"
    data["alerts"][0]["endsAt"] = "2026-11-22T19:00:00Z"
    await h.webhook(json.dumps(data).encode())
    await h.alerts_done()
    [parent] = h.alert_parents()
    assert "2 firing · 1 resolved" in flat(parent)
    replies = h.slack.thread(h.alerts, parent["ts"])[1:]
    assert len(replies) == 2 and "abc12" in replies[1]["text"]
    assert "def34" not in replies[1]["text"]


async def test_a_group_that_grows_from_one_lists_its_first_alert_too(harness: Harness) -> None:
    """The parent describes a lone alert; once others join, the thread lists it with them, so
    the first alert's details are still somewhere to read."""
    h = harness
    data = json.loads(fixture("firing-group-of-3.json"))
    first, *others = data["alerts"]
    await h.webhook(json.dumps({**data, "alerts": [first]}).encode())
    await h.alerts_done()
    [parent] = h.alert_parents()
    assert "1 firing" in flat(parent) and h.slack.thread(h.alerts, parent["ts"])[1:] == []

    await h.webhook(json.dumps({**data, "alerts": [first, others[0]]}).encode())
    await h.alerts_done()
    [parent] = h.alert_parents()
    assert "2 firing" in flat(parent)
    [listing] = h.slack.thread(h.alerts, parent["ts"])[1:]
    assert "2 firing" in listing["text"]
    assert "abc12" in listing["text"] and "def34" in listing["text"]

    await h.webhook(json.dumps({**data, "alerts": [first, *others]}).encode())
    await h.alerts_done()
    replies = h.slack.thread(h.alerts, parent["ts"])[1:]
    assert len(replies) == 2 and "ghi56" in replies[1]["text"]
    assert "abc12" not in replies[1]["text"]  # listed once the group grew; not again


async def test_acknowledge_and_declare_from_the_alert(harness: Harness) -> None:
    h = harness
    await h.webhook(fixture("firing-single.json"))
    await h.alerts_done()
    [parent] = h.alert_parents()
    group_id = next(
        e["value"]
        for b in parent["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == alert_blocks.ACK_ALERT
    )
    await h.slack.click_button(h.bob, h.alerts, parent["ts"], alert_blocks.ACK_ALERT, group_id)
    await h.slack.click_button(
        h.carol, h.alerts, parent["ts"], alert_blocks.ACK_ALERT, group_id, message=parent
    )
    await h.settle()
    await h.alerts_done()  # the parent's edit and the thread note go through the outbox
    assert f"acknowledged by <@{h.bob}>" in flat(h.alert_parents()[0])
    await h.told(h.carol, "acknowledged these alerts already")

    await h.slack.click_button(
        h.alice, h.alerts, parent["ts"], alert_blocks.DECLARE_FROM_ALERT, group_id
    )
    await h.settle()
    [view_id] = h.slack.ws.view_stacks[h.alice]
    view = h.slack.ws.views[view_id]
    await h.slack.submit_view(
        h.alice,
        view_id,
        {
            "title": {"value": "HighErrorRate: Error rate > 5% for last 5 minutes"},
            "severity": {"value": "P1"},
            "service": {"value": "task-service"},
            "description": {"value": "see alert thread"},
        },
    )
    await h.settle()
    await h.alerts_done()
    incident = await h.app.services.store.get("INC-1")
    assert incident.severity.value == "P1" and incident.service == "task-service"
    assert "INC-1 declared" in flat(h.alert_parents()[0])
    replies = h.slack.thread(h.alerts, parent["ts"])[1:]
    assert any(f"<#{incident.channel_id}>" in r["text"] for r in replies)
    assert view is not None


async def alert_bots(build: Callable[..., Builder]) -> Harness:
    """A bot with only #alerts and #incidents, as replica-a."""
    return await (
        build().channel("alerts").channel("broadcast", "incidents")
        .settings(instance_name="replica-a").start()
    )  # fmt: skip


@pytest.mark.slow
async def test_accepted_alerts_survive_a_restart(
    slack: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await alert_bots(build)
    h.app.services.alerts.stop()  # the worker stops; the webhook still accepts
    await asyncio.sleep(1.2)
    assert (await h.webhook(fixture("firing-single.json")))[0] == 200
    await h.stop()
    assert slack.messages(h.alerts) == []

    await h.start()
    await h.alerts_done()
    assert len(slack.messages(h.alerts)) == 1


async def test_two_replicas_post_one_parent(
    slack: SlackDouble, build: Callable[..., Builder]
) -> None:
    h = await alert_bots(build)
    hs = [h, await h.replica(instance_name="replica-b")]
    alerts = h.alerts
    # An Alertmanager HA pair: both members notify, each reaching a different replica.
    await asyncio.gather(*[h.webhook(fixture("firing-group-of-3.json")) for h in hs])
    await asyncio.gather(*[h.alerts_done() for h in hs])
    assert len(slack.messages(alerts)) == 1
    parent = slack.messages(alerts)[0]
    assert len(slack.thread(alerts, parent["ts"])) == 2  # parent + one listing
