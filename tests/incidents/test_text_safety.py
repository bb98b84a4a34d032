"""Hostile words against the running bot (signed requests, the Slack double, real Redis): what
reaches the broadcast channel, the card, the topic, alert threads and people's screens is read
the way Slack reads mrkdwn (`bot.sandbox.doubles.slack.mrkdwn`). Issue 13, finding 6: a title
`<!channel> & <https://evil.example|sso.example.com>` reached the broadcast channel as-is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.sandbox.doubles.slack import mrkdwn as slack
from tests.harness import Harness, eventually

TITLE = "<!channel> & <https://evil.example|sso.example.com>"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"


def read(message: dict[str, Any]) -> str:
    """What a person reads in a message."""
    return slack.message_shown(message)


def assert_harmless(h: Harness, message: dict[str, Any]) -> None:
    """It notifies nobody but the workspace's people by ID, and links to nothing hostile."""
    people = {f"@{u}" for u in (h.alice, h.bob, h.carol)}
    for text in slack.mrkdwn_texts(message):
        assert [n for n in slack.notifies(text) if n not in people] == [], text
        assert not any("evil.example" in url for url in slack.links(text)), text
    for text in slack.plain_texts(message):
        assert "&lt;" not in text and "&amp;" not in text, text


def as_slack_sends(typed: str) -> str:
    """Slash-command text as Slack delivers it: `&`, `<`, `>` encoded (Slack's own tokens for
    what the person picked, `<@U…|name>` or `<!channel>`, are added by the caller)."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def test_a_hostile_title_pings_no_one_and_reads_as_typed(harness: Harness) -> None:
    h = harness
    incident_id, channel_id = await h.declare(h.alice, f"P1 {as_slack_sends(TITLE)}")

    announcements = h.slack.messages(h.broadcast)
    assert announcements, "the broadcast channel got the announcement"
    for message in announcements:
        assert_harmless(h, message)
    assert any(TITLE in read(m) for m in announcements)

    card = h.card(channel_id)
    assert_harmless(h, card)
    assert TITLE in read(card)
    header = next(b for b in card["blocks"] if b["type"] == "header")
    assert TITLE in header["text"]["text"]  # plain_text: as typed, not escaped

    topic = h.slack.channel(channel_id)["topic"]["value"]
    assert slack.notifies(topic) == [f"@{h.alice}"] and slack.links(topic) == []  # the IC
    assert f"{incident_id}: {TITLE}" in slack.shown(topic)

    told = [e for e in h.slack.ephemerals(user_id=h.alice) if "Declaring" in (e.text or "")]
    assert told and TITLE in slack.shown(told[0].text or "")
    assert slack.tokens(told[0].text or "") == []


async def test_updates_and_notes_are_shown_as_written(harness: Harness) -> None:
    h = harness
    _, channel_id = await h.declare(h.alice, "P2 Checkout slow")
    update = "<!everyone> rolled back & <@U0FAKE> <https://evil.example|status page>"
    await h.command(h.alice, f"update {as_slack_sends(update)}", channel=channel_id)
    await eventually(lambda: any("rolled back" in read(m) for m in h.slack.messages(h.broadcast)))
    for where in (h.broadcast, channel_id):
        for message in h.slack.messages(where):
            assert_harmless(h, message)
            assert "@U0FAKE" not in slack.notifies(" ".join(slack.mrkdwn_texts(message)))
    assert any(update in read(m) for m in h.slack.messages(h.broadcast))
    assert update in read(h.card(channel_id))

    typed = "<!here> db & cache <b>warm</b> &lt;"
    await h.command(h.bob, f"note {as_slack_sends(typed)}", channel=channel_id)
    await h.command(h.bob, "timeline", channel=channel_id)
    timeline = await h.told(h.bob, "Timeline of")
    [shown] = [e for e in h.slack.ephemerals(user_id=h.bob) if "Timeline of" in (e.text or "")]
    text = shown.text or ""
    people = [n for n in slack.notifies(text) if n in (f"@{h.alice}", f"@{h.bob}")]
    assert slack.notifies(text) == people  # the authors of entries, and nobody else
    assert typed in slack.shown(text)  # once decoded, once escaped: as typed, `&lt;` too
    assert update in slack.shown(text) and timeline


async def test_a_mention_in_a_note_stays_a_mention_and_a_broadcast_never_pings(
    harness: Harness,
) -> None:
    """In Slack a person types `@carol` and `@channel`; Slack sends `<@U…|carol>` and
    `<!channel>`. The person is mentioned; the channel is not pinged, but reads `@channel`."""
    h = harness
    _, channel_id = await h.declare(h.alice, "P2 Checkout slow")
    sent = f"ask <@{h.carol}|carol> before the rollback, <!channel> &amp; <#{channel_id}|ops>"
    await h.command(h.bob, f"note {sent}", channel=channel_id)
    await h.command(h.bob, f"update waiting on <@{h.carol}|carol> <!here>", channel=channel_id)
    await eventually(lambda: any("waiting on" in read(m) for m in h.slack.messages(h.broadcast)))
    await h.command(h.bob, "timeline", channel=channel_id)
    await h.told(h.bob, "Timeline of")
    [shown] = [e for e in h.slack.ephemerals(user_id=h.bob) if "Timeline of" in (e.text or "")]
    text = shown.text or ""
    assert f"@{h.carol}" in slack.notifies(text)
    assert "@channel" not in slack.notifies(text) and "@here" not in slack.notifies(text)
    assert f"ask @{h.carol} before the rollback, @channel & #{channel_id}" in slack.shown(text)
    [posted] = [m for m in h.slack.messages(h.broadcast) if "waiting on" in read(m)]
    said = " ".join(slack.mrkdwn_texts(posted))
    assert f"@{h.carol}" in slack.notifies(said) and "@here" not in slack.notifies(said)
    assert f"waiting on @{h.carol} @here" in read(posted)
    assert f"waiting on <@{h.carol}> @here" in h.card_text(channel_id)


async def test_an_alert_with_broadcasts_in_its_labels_pings_no_one(harness: Harness) -> None:
    h = harness
    data = json.loads((FIXTURES / "firing-single.json").read_text())
    hostile = {
        "alertname": "<!everyone>",
        "service": "<!channel> & co",
        "namespace": "orion-prod",
        "severity": "critical",
    }
    annotations = {
        "summary": "Error rate > 5% <!here>",
        "description": "<https://evil.example|sso.example.com>",
        "runbook_url": "javascript:alert(1)",
    }
    data["alerts"][0]["labels"] = hostile
    data["alerts"][0]["annotations"] = annotations
    data["alerts"][0]["generatorURL"] = "https://evil.example|click me"
    data["commonLabels"], data["commonAnnotations"] = hostile, annotations
    data["groupLabels"] = {"alertname": "<!everyone>"}
    assert (await h.webhook(json.dumps(data).encode()))[0] == 200
    await h.alerts_done()

    [parent] = h.alert_parents()
    assert_harmless(h, parent)
    shown = read(parent)
    assert "Error rate > 5% <!here>" in shown and "service=<!channel> & co" in shown
    assert "Runbook (javascript:alert(1))" in shown
    assert all(slack.links(t) == [] or "evil" not in str(slack.links(t)) for t in [shown])
    for reply in h.slack.thread(h.alerts, parent["ts"])[1:]:
        assert_harmless(h, reply)


async def test_a_usage_error_echoes_what_was_typed_and_usage_reads_right(
    harness: Harness,
) -> None:
    h = harness
    await h.command(h.carol, "<!channel>")
    await h.command(h.carol, "severity P9 <!here>")
    await h.command(h.carol, "help")
    said = [e.text or "" for e in h.slack.ephemerals(user_id=h.carol)]
    assert len(said) >= 3, said
    for text in said:
        assert slack.notifies(text) == [] and slack.links(text) == [], text
    shown = [slack.shown(t) for t in said]
    assert any("`<!channel>` is not an `/incident` command" in s for s in shown), shown
    assert any("/incident declare [P0|P1|P2|P3] <title>" in s for s in shown), shown
    assert any("/incident update <text>" in s for s in shown), shown
