"""The incident's people are told what concerns them, and nothing else (issue 15), asserted on
what each person sees in the Slack double: a raised severity said where people look, a
replaced commander told, the declarer not reminded to acknowledge their own declaration, an
escalation that can be acknowledged where it pages, a timeline with authors and no refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot import blockkit
from bot.policy.incidents import IncidentPolicy
from bot.policy.models import Policy, RoleGrant
from bot.sandbox.doubles.slack import mrkdwn as slack
from tests.clock import ManualClock
from tests.harness import Builder, Harness, eventually

GROUP = "S0ONCALL1"


def read(message: dict[str, Any]) -> str:
    return slack.message_shown(message)


def dms(h: Harness, user: str) -> list[str]:
    """What Fireline said to `user` in a direct message."""
    return [read(m) for m in h.slack.messages(h.slack.ws.open_im(user).id)]


def posts(h: Harness, channel: str) -> list[dict[str, Any]]:
    """Messages Fireline posted (not edited) in `channel`, oldest first."""
    return [m for m in h.slack.messages(channel) if m.get("bot_id")]


async def test_a_raised_severity_is_said_in_the_channel_and_the_broadcast_channel(
    harness: Harness,
) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P2 Checkout slow")
    before_here, before_broadcast = len(posts(h, channel)), len(h.slack.messages(h.broadcast))

    await h.command(h.bob, "severity P0", channel=channel)
    said = f"{incident_id} is now P0 (was P2), raised by @{h.bob}: *Checkout slow*"
    new_here = [read(m) for m in posts(h, channel)[before_here:]]
    new_broadcast = [read(m) for m in h.slack.messages(h.broadcast)[before_broadcast:]]
    assert len(new_here) == 1 and said in new_here[0], new_here
    assert len(new_broadcast) == 1 and said in new_broadcast[0], new_broadcast
    assert f"Join #{channel}" in new_broadcast[0]  # where to go from the broadcast channel
    assert "Complete outage" in new_here[0]  # what P0 means, for those who do not know

    # Lowering it is the card's business: nothing new is said.
    await h.command(h.bob, "severity P3", channel=channel)
    assert len(posts(h, channel)) == before_here + 1
    assert len(h.slack.messages(h.broadcast)) == before_broadcast + 1
    assert "P3" in h.card_text(channel)


async def test_a_replaced_commander_is_told_and_nobody_else(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P1 Search down")  # alice commands
    await h.command(h.carol, f"assign commander <@{h.bob}|bob>", channel=channel)
    await eventually(lambda: dms(h, h.alice), what="a DM to the replaced commander")
    [told] = dms(h, h.alice)
    assert f"You are no longer the commander of {incident_id} (*Search down*)" in told
    assert f"@{h.bob} is (set by @{h.carol})" in told and f"#{channel}" in told
    assert dms(h, h.bob) == [] and dms(h, h.carol) == []

    # Taking command oneself tells the one replaced, too; handing it over oneself does not.
    await h.slack.click_button(h.carol, channel, h.card(channel)["ts"], blockkit.TAKE_COMMAND)
    await h.settle()
    await eventually(lambda: dms(h, h.bob), what="a DM to bob")
    assert f"@{h.carol} is." in dms(h, h.bob)[0]
    await h.command(h.carol, f"assign commander <@{h.alice}|alice>", channel=channel)
    assert (await h.app.services.store.get(incident_id)).commander == h.alice
    assert dms(h, h.carol) == [] and len(dms(h, h.alice)) == 1


def strict(build: Builder) -> Policy:
    """alice may declare but not acknowledge (viewer); bob responds; carol is in no role."""
    ids = build.ids
    return Policy(
        roles={
            "viewer": RoleGrant(users=(ids["alice"],)),
            "responder": RoleGrant(users=(ids["bob"],)),
            "commander": RoleGrant(users=()),
            "admin": RoleGrant(users=()),
        },
        incidents=IncidentPolicy(declare=("viewer", "responder", "commander", "admin")),
    )


def team(build: Callable[..., Builder], clock: ManualClock, **settings: Any) -> Builder:
    builder = (
        build()
        .people("alice", "bob", "carol")
        .channel("room", "war-room")
        .channel("broadcast", "incidents", bot_member=False)
        .clock(clock)
        .settings(oncall_groups=f"P0={GROUP},P1={GROUP}", **settings)
        .wait_for_jobs()
    )
    return builder


async def test_the_declarer_is_not_asked_to_acknowledge_their_own_declaration(
    build: Callable[..., Builder],
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    h = await team(build, clock).start()
    incident_id, channel = await h.declare(h.bob, "P0 Payments down")  # deadline: at once
    clock.advance(3600)
    await h.idle()
    texts = [read(m) for m in h.slack.messages(channel)]
    assert not [t for t in texts if "has not been acknowledged" in t or "escalated" in t], texts
    incident = await h.app.services.store.get(incident_id)
    assert incident.acknowledged_at == incident.created_at
    [first] = [e.text for e in await h.app.services.store.timeline(incident_id)][:1]
    assert first == f"Declared P0 and acknowledged by <@{h.bob}>: Payments down"


async def test_a_declarer_the_policy_does_not_let_acknowledge_is_reminded(
    build: Callable[..., Builder],
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    builder = team(build, clock)
    h = await builder.policy(strict(builder)).start()
    incident_id, channel = await h.declare(h.alice, "P0 Payments down")
    clock.advance(5)  # P0's deadline is at once; a job run before the channel retries in 2 s
    await h.idle()
    assert (await h.app.services.store.get(incident_id)).acknowledged_at is None
    assert any("has not been acknowledged" in read(m) for m in h.slack.messages(channel))


async def test_the_escalation_carries_acknowledge_and_the_click_is_checked(
    build: Callable[..., Builder],
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    builder = team(build, clock, declare_acknowledges=False)
    h = await builder.policy(strict(builder)).start()
    incident_id, channel = await h.declare(h.bob, "P1 Queue backlog")
    await h.app.services.slack.invite(channel, [h.carol])
    clock.advance(20 * 60)  # P1: reminder at 15 min, escalation 5 min later
    await h.idle()
    [page] = [m for m in h.slack.messages(channel) if m["text"].startswith("🚨")]
    assert f"<!subteam^{GROUP}>" in page["text"]
    assert blockkit.ACK in str(page["blocks"])

    # carol is in no role: her click is refused and changes nothing, as on the card.
    await h.slack.click_button(h.carol, channel, page["ts"], blockkit.ACK)
    await h.settle()
    await h.told(h.carol, "needs the role")
    assert (await h.app.services.store.get(incident_id)).acknowledged_at is None
    # A button's value is a request: clicked in another incident's channel it is refused.
    other_id, other_channel = await h.declare(h.bob, "P3 Typo")
    forged = await h.app.services.slack.post_message(
        other_channel,
        "forged",
        [{"type": "actions", "elements": [blockkit.button("Ack", blockkit.ACK, incident_id)]}],
    )
    await h.slack.click_button(h.bob, other_channel, forged, blockkit.ACK)
    await h.settle()
    await h.told(h.bob, f"That button names {incident_id}")
    assert (await h.app.services.store.get(incident_id)).acknowledged_at is None

    await h.slack.click_button(h.bob, channel, page["ts"], blockkit.ACK)
    await h.settle()
    await h.told(h.bob, f"{incident_id}: acknowledged")
    assert (await h.app.services.store.get(incident_id)).acknowledged_at is not None
    assert other_id != incident_id


async def test_the_timeline_names_authors_and_leaves_refusals_out(
    build: Callable[..., Builder],
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    builder = team(build, clock)
    h = await builder.policy(strict(builder)).start()
    incident_id, channel = await h.declare(h.bob, "P2 Cache cold")
    await h.app.services.slack.invite(channel, [h.alice, h.carol])
    await h.command(h.bob, "update warming it by hand", channel=channel)
    await h.command(h.bob, "note keys expire at 04:00", channel=channel)
    await h.command(h.bob, "followup alert on hit ratio", channel=channel)
    for _ in range(3):  # refused: carol holds no role; and mistyped
        await h.command(h.carol, "resolve", channel=channel)
    await h.command(h.alice, "severity P9", channel=channel)
    await h.told(h.carol, "needs the role")

    texts = [e.text for e in await h.app.services.store.timeline(incident_id)]
    assert f"📣 Update from <@{h.bob}>: warming it by hand" in texts
    assert f"📝 <@{h.bob}>: keys expire at 04:00" in texts
    assert f"Action item from <@{h.bob}>: alert on hit ratio" in texts
    assert not [t for t in texts if h.carol in t or "refused" in t or "P9" in t], texts
    _, report = await h.app.services.incidents.render_report(incident_id)
    assert "refused" not in report and "P9" not in report
    assert "Update from @bob: warming it by hand" in report
    refusals = [a for a in await h.app.services.store.audit_log() if a["user"] == h.carol]
    assert len(refusals) == 3 and {a["outcome"] for a in refusals} == {"denied"}


async def test_an_incident_handed_to_another_commander_waits_for_their_acknowledgement(
    build: Callable[..., Builder],
) -> None:
    """Declared through the form with bob named commander: alice's declaration does not count
    as bob's acknowledgement; the card keeps Acknowledge and the reminder goes out."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    h = await team(build, clock).start()
    await h.command(h.alice, "declare")
    view_id = await eventually(lambda: next(iter(h.slack.ws.view_stacks.get(h.alice, [])), None))
    fields = {"title": {"value": "Payments down"}, "severity": {"value": "P0"}}
    await h.slack.submit_view(h.alice, view_id, {**fields, "commander": {"value": h.bob}})
    await h.settle()
    [incident_id] = await h.app.services.store.list_ids(open_only=True)
    incident = await h.app.services.store.get(incident_id)
    assert incident.commander == h.bob and incident.acknowledged_at is None
    channel = incident.channel_id
    assert channel is not None
    assert "Acknowledge" in str(h.card(channel)["blocks"])
    clock.advance(5)  # P0's deadline is at once
    await h.idle()
    assert any("has not been acknowledged" in read(m) for m in h.slack.messages(channel))


async def test_an_acknowledgement_made_while_the_card_is_posted_shows_on_the_card(
    build: Callable[..., Builder],
) -> None:
    """The card is posted from the incident as it was read; an acknowledgement recorded while
    that post was on its way must still reach the card. (The card was marked rendered at the
    version current when its ts was saved, so the newer state was never drawn: a soak saw a
    card at "its current version" without the acknowledgement, for good.)"""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    h = await team(build, clock, declare_acknowledges=False).start()
    card = h.slack.hold_next("chat.postMessage")  # the incident's first post is its card
    await h.slack.slash_command(h.bob, h.room, "declare P2 Cart broken")  # not waited on
    await eventually(card.reached.is_set, what="the card's post to reach Slack")
    [incident_id] = await h.app.services.store.list_ids(open_only=True)
    incident = await h.app.services.store.get(incident_id)
    assert incident.channel_id is not None and incident.acknowledged_at is None
    await h.slack.slash_command(h.bob, incident.channel_id, "ack")
    await h.told(h.bob, f"{incident_id}: acknowledged")  # recorded while the card is held
    assert (await h.app.services.store.get(incident_id)).acknowledged_at is not None
    card.release.set()
    await h.idle()
    await eventually(
        lambda: "Acknowledged" in h.card_text(incident.channel_id or ""),
        what="the card showing the acknowledgement",
    )
