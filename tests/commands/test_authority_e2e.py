"""Issue 13, findings 1-3, against the running bot: signed Slack requests from the Slack double,
real Redis, the Kubernetes double. Each test is the attack as it was made; before the authority
model each ended with the deployment patched.

1. A person in no role took command (button or `assign commander @me`) and approved a
   production restart as the incident's commander.
2. A responder lowered the severity P1 → P3, requested, and approved their own request.
3. A forged `remediation.request` value naming another (P3) incident was trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot import blockkit
from bot.blockkit import REMEDIATION_REQUEST, button
from bot.incident import Severity
from bot.policy.incidents import IncidentPolicy
from bot.remediation import views as approval_blocks
from bot.remediation.store import State
from tests.harness import Builder, Harness, eventually
from tests.remediation.world import (
    NS,
    approval_cards,
    click,
    make_policy,
    record_of,
    remediation_world,
    until_state,
    writes,
)


@pytest.fixture
async def world(build: Callable[..., Builder]) -> Harness:
    return await remediation_world(build())


async def declare(w: Harness, user: str, text: str) -> tuple[str, str]:
    """Declare and wait for this incident's own channel (the world's helper finds the first)."""
    store = w.app.services.store
    before = len(await store.list_incidents(open_only=False))
    await w.command(user, f"declare {text}")

    async def made() -> Any:
        incidents = await store.list_incidents(open_only=False)
        return incidents[before] if len(incidents) > before and incidents[before].card_ts else None

    incident = None
    for _ in range(500):
        incident = await made()
        if incident:
            break
        await w.settle()
    assert incident is not None and incident.channel_id is not None
    for person in (w.rita, w.apollo, w.cleo, w.otto):
        await w.app.services.slack.invite(incident.channel_id, [person])
    return incident.id, incident.channel_id


async def card_ts(w: Harness, incident_id: str) -> str:
    incident = await w.app.services.store.get(incident_id)
    assert incident.card_ts is not None
    return incident.card_ts


async def request_in(w: Harness, channel: str, text: str = "restart task-service") -> None:
    await w.command(w.rita, text, channel=channel)
    await eventually(
        lambda: approval_cards(w, channel),
        what=f"a card; rita was told {w.ephemeral_texts(w.rita)}",
    )


async def post_button(w: Harness, channel: str, value: dict[str, Any]) -> str:
    """A message with a `remediation.request` button carrying `value`, as anything might post."""
    element = button("Restart", REMEDIATION_REQUEST, json.dumps(value))
    blocks = [{"type": "actions", "elements": [element]}]
    return await w.app.services.slack.post_message(channel, "Suggested fix", blocks)


async def test_1_no_role_can_neither_take_command_nor_approve(world: Harness) -> None:
    w = world
    nico = w.slack.add_user("nico")  # in no role of the policy, and no default role
    incident_id, channel = await declare(w, w.cleo, "P1 tasks failing")
    await w.app.services.slack.invite(channel, [nico])

    await w.slack.click_button(nico, channel, await card_ts(w, incident_id), blockkit.TAKE_COMMAND)
    await w.settle()
    told = await w.told(nico, "Holding the commander role needs the role")
    assert "`incidents.command`" in told and "you have none" in told
    await w.command(nico, f"assign commander <@{nico}>", channel=channel)
    assert len([t for t in w.ephemeral_texts(nico) if "Holding the commander role" in t]) == 2
    assert (await w.app.services.store.get(incident_id)).commander == w.cleo

    await request_in(w, channel)
    await click(w, nico, channel, approval_blocks.APPROVE)
    await w.told(nico, "Only someone with the role commander or admin can approve")
    assert (await record_of(w, "R-1")).state == State.PENDING and not writes(w)

    # Recorded for the operator, not on the incident's timeline (docs/decisions/authority.md).
    timeline = [e.text for e in await w.app.services.store.timeline(incident_id)]
    assert not [t for t in timeline if nico in t or "refused" in t], timeline
    refused = [a for a in await w.app.services.store.audit_log() if a["user"] == nico]
    assert {a["outcome"] for a in refused} == {"denied"} and len(refused) == 3
    assert {a["action"] for a in refused} == {"incident.command", "remediation.approve R-1"}


async def test_1_the_commander_approves_only_with_an_approving_role(world: Harness) -> None:
    """Under the policy's defaults a viewer may declare but not hold command, and whoever holds
    it approves only with an approving role (here: cleo takes command where the policy lets
    viewers command, and still cannot approve)."""
    w = world
    await w.stop()
    await w.start(policy=make_policy(w.rita, w.apollo, w.cleo, w.otto))
    incident_id, channel = await declare(w, w.cleo, "P1 tasks failing")
    assert (await w.app.services.store.get(incident_id)).commander == w.cleo
    await request_in(w, channel)
    await click(w, w.cleo, channel, approval_blocks.APPROVE)
    told = await w.told(w.cleo, "Being the incident's commander is not enough")
    assert f"Held by <@{w.apollo}>" in told
    assert (await record_of(w, "R-1")).state == State.PENDING and not writes(w)

    # The shipped defaults: viewers declare, but do not hold command.
    await w.stop()
    strict = make_policy(w.rita, w.apollo, w.cleo, w.otto).model_copy(
        update={"incidents": IncidentPolicy()}
    )
    await w.start(policy=strict)
    second, room = await declare(w, w.otto, "P2 search slow")
    assert (await w.app.services.store.get(second)).commander is None  # otto may not command
    await w.slack.click_button(w.otto, room, await card_ts(w, second), blockkit.TAKE_COMMAND)
    await w.settle()
    await w.told(w.otto, "needs the role responder, commander or admin")
    await w.slack.click_button(w.rita, room, await card_ts(w, second), blockkit.TAKE_COMMAND)
    await w.settle()
    assert (await w.app.services.store.get(second)).commander == w.rita


async def test_2_lowering_the_severity_does_not_open_self_approval(world: Harness) -> None:
    w = world
    incident_id, channel = await declare(w, w.cleo, "P1 tasks failing")
    await w.command(w.rita, "severity P3", channel=channel)  # a responder may re-grade
    incident = await w.app.services.store.get(incident_id)
    assert incident.severity is Severity.P3 and incident.most_severe is Severity.P1
    await request_in(w, channel)
    assert (await record_of(w, "R-1")).severity == "P1"
    await click(w, w.rita, channel, approval_blocks.APPROVE)
    await w.told(w.rita, "someone else must approve it (the incident has been P1)")
    assert (await record_of(w, "R-1")).state == State.PENDING and not writes(w)

    # Re-graded *after* the request: still judged on its worst.
    await click(w, w.rita, channel, approval_blocks.CANCEL)
    await w.command(w.rita, "severity P1", channel=channel)
    await w.command(w.rita, "severity P3", channel=channel)
    await w.command(w.rita, "restart task-service", channel=channel)
    await eventually(lambda: len(approval_cards(w, channel)) == 2)
    await click(w, w.rita, channel, approval_blocks.APPROVE)
    assert (await record_of(w, "R-2")).state == State.PENDING and not writes(w)


async def test_2_an_incident_that_was_only_ever_p3_still_allows_it(world: Harness) -> None:
    w = world
    _, channel = await declare(w, w.cleo, "P3 one pod restarting")
    await request_in(w, channel)
    await click(w, w.rita, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.approver == w.rita


async def test_3_a_button_naming_another_incident_is_refused(world: Harness) -> None:
    w = world
    serious, channel = await declare(w, w.cleo, "P1 tasks failing")
    minor, minor_channel = await declare(w, w.cleo, "P3 typo on the status page")
    value = {"action": "restart", "params": {"deployment": "task-service", "namespace": NS}}

    # In the P1 incident's channel, a button naming the P3 incident.
    ts = await post_button(w, channel, {**value, "incident": minor})
    await w.slack.click_button(w.rita, channel, ts, REMEDIATION_REQUEST)
    await w.settle()
    told = await w.told(w.rita, f"That button names {minor}, but the message it is on")
    assert f"belongs to {serious}" in told
    # Outside any incident, the same.
    ts = await post_button(w, w.room, {**value, "incident": minor})
    await w.slack.click_button(w.rita, w.room, ts, REMEDIATION_REQUEST)
    await w.settle()
    await w.told(w.rita, "belongs to no incident")
    assert (
        not approval_cards(w, channel)
        and not approval_cards(w, w.room)
        and not approval_cards(w, minor_channel)
    )
    assert w.app.remediation is not None
    assert await w.app.remediation.records.get("R-1") is None
    timeline = [e.text for e in await w.app.services.store.timeline(serious)]
    assert not [t for t in timeline if "refused" in t], timeline
    refused = [a for a in await w.app.services.store.audit_log() if a["user"] == w.rita]
    assert "remediation.request restart" in {a["action"] for a in refused}

    # Where it belongs it is a request like any other: previewed, for its own incident.
    ts = await post_button(w, minor_channel, {**value, "incident": minor})
    await w.slack.click_button(w.rita, minor_channel, ts, REMEDIATION_REQUEST)
    await w.settle()
    await eventually(
        lambda: approval_cards(w, minor_channel), what=f"card; told {w.ephemeral_texts(w.rita)}"
    )
    assert (await record_of(w, "R-1")).incident_id == minor
    assert not writes(w)


async def test_3_card_buttons_act_only_on_the_channels_incident(
    build: Callable[..., Builder],
) -> None:
    # Unacknowledged incidents, so the cards carry Acknowledge (declaring is no ack here).
    w = await remediation_world(build().settings(declare_acknowledges=False))
    first, channel = await declare(w, w.cleo, "P1 tasks failing")
    second, _ = await declare(w, w.cleo, "P2 search slow")
    ts = await card_ts(w, first)
    await w.slack.click_button(w.rita, channel, ts, blockkit.ACK, value=second)
    await w.slack.click_button(w.rita, channel, ts, blockkit.TAKE_COMMAND, value=second)
    # A menu offering the other incident's grade, on a message in this channel.
    option = {"text": {"type": "plain_text", "text": "P0"}, "value": f"{second}|P0"}
    menu = {"type": "static_select", "action_id": blockkit.SEVERITY, "options": [option]}
    forged = await w.app.services.slack.post_message(
        channel, "Re-grade", [{"type": "actions", "elements": [menu]}]
    )
    await w.slack.select_option(w.rita, channel, forged, blockkit.SEVERITY, f"{second}|P0")
    await w.settle()
    refusals = [t for t in w.ephemeral_texts(w.rita) if f"That button names {second}" in t]
    assert len(refusals) == 3
    after = await w.app.services.store.get(second)
    assert after.acknowledged_at is None and after.commander == w.cleo
    assert after.severity is Severity.P2
    before = await w.app.services.store.get(first)
    assert before.acknowledged_at is None  # nothing happened to the channel's own either
