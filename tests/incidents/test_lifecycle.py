"""The incident lifecycle as responders meet it in Slack, end to end over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import blockkit as blocks
from bot.blockkit import unescape
from tests.harness import Harness, eventually


def today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


async def test_declare_creates_channel_card_announcement_and_confirms(harness: Harness) -> None:
    h = harness
    ack = await h.command(h.alice, "declare P1 Checkout returns 500 for EU users")
    assert ack.status == 200
    assert "Declaring *Checkout returns 500 for EU users*" in h.ephemeral_texts(h.alice)[0]
    told = await h.told(h.alice, "INC-1 declared as P1")

    channel = h.channel_named(f"inc-{today()}-checkout-returns-500-for-eu-users")
    assert channel is not None, "incident channel"
    assert f"<#{channel['id']}>" in told
    # Declaring counts as acknowledging (FIRELINE_DECLARE_ACKNOWLEDGES): nobody is asked to.
    assert "P1" in channel["topic"]["value"] and "acknowledged" in channel["topic"]["value"]
    assert f"<@{h.alice}>" in channel["topic"]["value"]  # the commander
    assert h.alice in h.slack.ws.channels[channel["id"]].members

    card = h.card(channel["id"])
    shown = h.card_text(channel["id"])
    for fragment in ("INC-1", "P1", "Checkout returns", "Acknowledged", f"<@{h.alice}>", "<!date^"):
        assert fragment in shown
    actions = {
        e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    assert actions == {  # no Acknowledge: declaring was the acknowledgement
        blocks.TAKE_COMMAND,
        blocks.SEVERITY,
        blocks.POST_UPDATE,
        blocks.RESOLVE,
    }
    assert [c.args["timestamp"] for c in h.slack.calls("pins.add")] == [card["ts"]]

    announced = h.slack.messages(h.broadcast)
    assert len(announced) == 1 and "INC-1" in announced[0]["text"]
    assert f"<#{channel['id']}>" in announced[0]["text"]


async def test_default_severity_is_p2_and_the_reply_says_so(harness: Harness) -> None:
    await harness.command(harness.alice, "declare Search is slow")
    assert "P2 (the default" in harness.ephemeral_texts(harness.alice)[0]
    await harness.told(harness.alice, "declared as P2 (default")


async def test_every_change_edits_the_one_card_in_place(unacknowledged: Harness) -> None:
    h = unacknowledged
    incident_id, channel = await h.declare(h.alice, "P2 Login errors")
    card_ts = h.card(channel)["ts"]
    posts_before = len(h.slack.calls("chat.postMessage"))

    await h.command(h.bob, "ack", channel)
    await h.told(h.bob, "acknowledged")
    await eventually(lambda: "Acknowledged" in h.card_text(channel))
    await h.slack.select_option(h.carol, channel, card_ts, blocks.SEVERITY, f"{incident_id}|P0")
    await eventually(lambda: "P0" in h.card_text(channel))
    await h.command(h.alice, f"assign comms <@{h.carol}>", channel)
    assert f"Comms: <@{h.carol}>" in h.card_text(channel)
    await h.command(h.alice, "mitigated", channel)
    await eventually(lambda: "Mitigated" in h.card_text(channel))

    assert h.card(channel)["ts"] == card_ts
    # Edits, never a new copy of the card; the only new posts say the severity went up (here
    # and in the broadcast channel, tests/incidents/test_people_told.py).
    new = [c.args["text"] for c in h.slack.calls("chat.postMessage")[posts_before:]]
    assert len(new) == 2 and all("is now P0 (was P2)" in t for t in new), new
    topic = h.slack.channel(channel)["topic"]["value"]
    assert "P0" in topic and "mitigated" in topic
    assert h.carol in h.slack.ws.channels[channel].members  # assigned people are invited
    announcement = h.slack.messages(h.broadcast)[0]["text"]
    assert "P0" in announcement and "mitigated" in announcement


async def test_double_click_on_acknowledge_counts_once(unacknowledged: Harness) -> None:
    h = unacknowledged
    incident_id, channel = await h.declare(h.alice, "P1 Queue backlog")
    card = h.card(channel)
    await h.slack.click_button(h.bob, channel, card["ts"], blocks.ACK, incident_id, message=card)
    await h.slack.click_button(h.carol, channel, card["ts"], blocks.ACK, incident_id, message=card)
    await h.told(h.carol, "was acknowledged already; nothing changed")
    entries = await h.app.services.store.timeline(incident_id)
    assert [e.text for e in entries if "Acknowledged" in e.text] == [f"Acknowledged by <@{h.bob}>"]


async def test_take_command_from_the_card(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P2 Emails delayed")
    await h.slack.click_button(
        h.bob, channel, h.card(channel)["ts"], blocks.TAKE_COMMAND, incident_id
    )
    await eventually(lambda: f"Commander: <@{h.bob}>" in h.card_text(channel))
    assert f"IC <@{h.bob}>" in h.slack.channel(channel)["topic"]["value"]


async def test_update_is_posted_in_channel_and_broadcast(harness: Harness) -> None:
    h = harness
    _, channel = await h.declare(h.alice, "P1 Payments failing")
    await h.command(h.alice, "update Rolled back to 1.4.1; error rate falling", channel)
    await eventually(lambda: any("Rolled back" in m["text"] for m in h.slack.messages(channel)))
    await eventually(lambda: any("Rolled back" in m["text"] for m in h.slack.messages(h.broadcast)))
    await eventually(lambda: "Rolled back to 1.4.1" in h.card_text(channel))


async def test_commands_elsewhere_need_the_id(unacknowledged: Harness) -> None:
    h = unacknowledged
    incident_id, _ = await h.declare(h.alice, "P3 Typo on pricing page")
    await h.command(h.bob, "ack")
    # What to type, whole: it read "`/incident ack INC-42 …`." (an ellipsis for nothing).
    await h.told(h.bob, "say which incident: `/incident ack INC-42`. `/incident list` shows")
    await h.command(h.bob, "severity P1")
    await h.told(h.bob, "say which incident: `/incident severity INC-42 &lt;P0|P1|P2|P3&gt;`.")
    await h.command(h.bob, "ack INC-999")
    await h.told(h.bob, "There is no incident INC-999")
    await h.command(h.bob, f"ack {incident_id.lower()}")
    await h.told(h.bob, f"{incident_id}: acknowledged")


async def test_mistakes_get_an_ephemeral_hint_and_change_nothing(harness: Harness) -> None:
    h = harness
    for text, hint in [
        ("declare P9 Everything", "`P9` is not a severity"),
        ("declare", ""),  # opens the form: no error
        ("sevrity P1", "Did you mean `/incident severity`"),
        ("assign boss <@U1>", "`boss` is not a role"),
    ]:
        response = await h.command(h.alice, text)
        assert response.status == 200
        if hint:
            await h.told(h.alice, hint)
    assert await h.app.services.store.list_ids(open_only=False) == []
    assert not h.slack.calls("conversations.create")


async def test_declare_form_with_service_description_and_commander(harness: Harness) -> None:
    h = harness
    await h.command(h.alice, "declare")
    view_id = await eventually(lambda: next(iter(h.slack.ws.view_stacks.get(h.alice, [])), None))
    response = await h.slack.submit_view(h.alice, view_id, {"title": {"value": "   "}})
    assert response.response_action == "errors"
    assert await h.app.services.store.list_ids(open_only=False) == []

    await h.slack.submit_view(
        h.alice,
        view_id,
        {
            "title": {"value": "Orders API timing out"},
            "severity": {"value": "P1"},
            "service": {"value": "orders-api"},
            "description": {"value": "p95 > 8 s since 02:10"},
            "commander": {"value": h.bob},
        },
    )
    await h.settle()
    incident = h.channel_named(f"inc-{today()}-orders-api-timing-out")
    assert incident is not None
    shown = unescape(h.card_text(incident["id"]))
    for fragment in ("orders-api", "p95 > 8 s", f"Commander: <@{h.bob}>", "P1"):
        assert fragment in shown
    assert h.bob in h.slack.ws.channels[incident["id"]].members


async def test_pin_reaction_adds_message_to_timeline_once(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P1 DB failover")
    ts = await h.slack.post_as_user(h.bob, channel, "Primary db-2 is down, promoting replica")
    await h.slack.add_reaction_as_user(h.carol, channel, ts, "pushpin")
    await h.slack.add_reaction_as_user(h.alice, channel, ts, "pushpin")
    event = {
        "type": "reaction_added",
        "user": h.carol,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": h.bob,
    }
    await h.slack.send_event(event, retry_num=1)

    async def pins() -> list[str]:
        entries = await h.app.services.store.timeline(incident_id)
        return [e.text for e in entries if e.kind == "pin"]

    # All three deliveries were answered (Bolt acks events first, then runs the listener).
    await h.app.drain()
    said = f"📌 <@{h.bob}>: Primary db-2 is down, promoting replica"
    assert await pins() in (
        [f"{said} (pinned by <@{pinner}>)"] for pinner in (h.carol, h.alice)
    )  # once, with who pinned it (whichever reaction was handled first)


async def test_resolve_twice_uploads_one_report(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P2 Cache stampede")
    await h.command(h.alice, "followup Add jitter to cache TTLs", channel)
    await h.told(h.alice, "action item added")
    await h.command(h.alice, "resolve TTL jitter deployed", channel)
    await h.command(h.bob, "resolve", channel)
    await h.told(h.bob, "is resolved already; nothing changed")
    files = await eventually(lambda: list(h.slack.ws.files.values()))
    await eventually(lambda: "Resolved" in h.card_text(channel))
    assert len(files) == 1
    report = h.slack.file_content(files[0].id).decode()
    for fragment in (
        f"# Post-incident report: {incident_id} — Cache stampede",
        "## Timeline",
        "## Root cause",
        "- [ ] Add jitter to cache TTLs",
        "TTL jitter deployed",
        "@alice",
    ):
        assert fragment in report
    assert not [b for b in h.card(channel)["blocks"] if b["type"] == "actions"]


async def test_status_list_timeline_and_help(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P1 Checkout down")
    await h.command(h.alice, "note Suspect the 02:00 deploy", channel)
    await h.told(h.alice, "note added")
    await h.command(h.bob, "list")
    await h.told(h.bob, f"*{incident_id}* [P1] Checkout down")
    await h.command(h.bob, "timeline", channel)
    await h.told(h.bob, "Suspect the 02:00 deploy")
    await h.command(h.bob, f"status {incident_id}")
    await h.told(h.bob, f"{incident_id} [P1] Checkout down")
    await h.command(h.bob, "help")
    await h.told(h.bob, "/incident declare [P0|P1|P2|P3] &lt;title&gt;")  # escaped, as Slack needs


async def test_post_update_and_resolve_buttons_open_forms_that_act(harness: Harness) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P1 Webhooks delayed")
    await h.slack.click_button(
        h.bob, channel, h.card(channel)["ts"], blocks.POST_UPDATE, incident_id
    )
    await h.settle()
    [view_id] = h.slack.ws.view_stacks[h.bob]
    empty = await h.slack.submit_view(h.bob, view_id, {"text": {"value": ""}})
    assert empty.response_action == "errors"
    await h.slack.submit_view(h.bob, view_id, {"text": {"value": "Queue drained; watching"}})
    await h.settle()
    assert "Queue drained; watching" in h.card_text(channel)
    assert any("Queue drained" in m["text"] for m in h.slack.messages(h.broadcast))

    await h.slack.click_button(h.alice, channel, h.card(channel)["ts"], blocks.RESOLVE, incident_id)
    await h.settle()
    [view_id] = h.slack.ws.view_stacks[h.alice]
    await h.slack.submit_view(h.alice, view_id, {"text": {"value": "Consumer scaled to 6"}})
    await h.settle()
    incident = await h.app.services.store.get(incident_id)
    assert incident.status.value == "resolved" and incident.summary == "Consumer scaled to 6"
    assert "Consumer scaled to 6" in h.card_text(channel)
    assert len(h.slack.ws.files) == 1
