"""Block Kit rendering: what an incident looks like in Slack. Pure functions of the record.

Times use Slack's date formatting, so each reader sees their own local time; the card's
"started" line uses `{ago}` so it stays current without edits. What people typed (title,
description, updates, summary) is escaped wherever it meets mrkdwn, and shown as it is in
plain_text (the card's header, the forms).
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.blockkit import (
    ACK,
    DECLARE_VIEW,
    POST_UPDATE,
    RESOLVE,
    SEVERITY,
    TAKE_COMMAND,
    Block,
    Mrkdwn,
    button,
    channel,
    cut,
    escape,
    human_duration,
    mrkdwn,
    plain,
    section,
    slack_date,
    user,
    with_mentions,
)
from bot.incident import SEVERITY_MATRIX, Incident, Role, Severity, TimelineEntry


def _roles(incident: Incident) -> str:
    names = {Role.COMMANDER: "Commander", Role.COMMS: "Comms", Role.SCRIBE: "Scribe"}
    return "  ·  ".join(
        f"{names[role]}: {user(incident.roles[role])}"
        if role in incident.roles
        else f"{names[role]}: —"
        for role in Role
    )


def plain_headline(incident: Incident) -> str:
    """The headline as plain text, for plain_text objects (the card's header)."""
    return f"{incident.severity.emoji} {incident.id} [{incident.severity.value}] {incident.title}"


def headline(incident: Incident) -> Mrkdwn:
    """The headline as mrkdwn: the title escaped."""
    return escape(plain_headline(incident))


def card_text(incident: Incident) -> Mrkdwn:
    """The notification/fallback text of the card (shown in notifications and screen readers)."""
    return f"{headline(incident)} — {incident.status.value}"


TOPIC_MAX = 250


def topic(incident: Incident) -> Mrkdwn:
    """The channel topic (Slack formats `<…>` there too, and keeps at most 250 characters)."""
    commander = user(incident.commander) if incident.commander else "unassigned"
    return cut(
        f"{incident.severity.emoji} {incident.severity.value} · {incident.status.value} · "
        f"IC {commander} · {incident.id}: {escape(incident.title)}",
        TOPIC_MAX,
    )


def card(incident: Incident, now: datetime) -> list[Block]:
    """The live summary card, pinned in the incident channel and edited on every change."""
    started = slack_date(incident.created_at)
    if incident.is_open:
        # {ago} is rendered by each reader's Slack client ("12 minutes ago"), so it stays
        # current without editing the card.
        duration = slack_date(incident.created_at, "{ago}")
    else:
        duration = f"lasted {human_duration(incident.duration(now))}"
    fields = [
        mrkdwn(
            f"*Severity*\n{incident.severity.emoji} {incident.severity.value} — "
            f"{escape(incident.severity.meaning)}"
        ),
        mrkdwn(f"*Status*\n{incident.status.label}"),
        mrkdwn(f"*Started*\n{started} ({duration})"),
        mrkdwn(f"*Service*\n{escape(incident.service or '—')}"),
    ]
    blocks: list[Block] = [
        {"type": "header", "text": plain(plain_headline(incident)[:150])},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [mrkdwn(_roles(incident))]},
    ]
    if incident.description:
        blocks.append(section(f"*Description*\n{escape(incident.description)}"))
    if incident.last_update and incident.last_update_at:
        blocks.append(
            section(
                f"*Last update* ({slack_date(incident.last_update_at, '{time}')})\n"
                f"{with_mentions(incident.last_update)}"
            )
        )
    if incident.summary and not incident.is_open:
        blocks.append(section(f"*Resolution*\n{with_mentions(incident.summary)}"))
    if incident.is_open:
        blocks.append(
            {"type": "actions", "block_id": "incident_actions", "elements": _buttons(incident)}
        )
    return blocks


def _buttons(incident: Incident) -> list[Block]:
    value = incident.id
    buttons: list[Block] = []
    if incident.acknowledged_at is None:
        buttons.append(button("Acknowledge", ACK, value, style="primary"))
    buttons.append(button("Take command", TAKE_COMMAND, value))
    buttons.append(
        {
            "type": "static_select",
            "action_id": SEVERITY,
            "placeholder": {"type": "plain_text", "text": "Change severity"},
            "options": [_severity_option(s, value) for s in Severity],
        }
    )
    buttons.append(button("Post update", POST_UPDATE, value))
    buttons.append(
        button(
            "Resolve",
            RESOLVE,
            value,
            style="danger",
        )
    )
    return buttons


def _severity_option(severity: Severity, incident_id: str) -> Block:
    meaning, within = SEVERITY_MATRIX[severity]
    return {
        "text": {"type": "plain_text", "text": f"{severity.value} — {meaning}"[:75]},
        "description": {"type": "plain_text", "text": within},
        "value": f"{incident_id}|{severity.value}",
    }


def announcement(incident: Incident) -> tuple[str, list[Block]]:
    """The broadcast-channel message; edited as the incident moves on."""
    where = channel(incident.channel_id, "(channel being created)")
    commander = user(incident.commander) if incident.commander else "unassigned"
    text = f"{headline(incident)} — {incident.status.value} · {where}"
    blocks = [
        section(f"*{headline(incident)}*\n{incident.status.label} · IC {commander} · join {where}"),
        {
            "type": "context",
            "elements": [
                mrkdwn(f"Declared by {user(incident.reporter)} {slack_date(incident.created_at)}")
            ],
        },
    ]
    return text, blocks


def status_update(incident: Incident, actor: str, text: str) -> tuple[str, list[Block]]:
    """The update posted in the broadcast channel; `text` is what the person typed."""
    where = f" in {channel(incident.channel_id)}" if incident.channel_id else ""
    fallback = f"Update on {incident.id}: {with_mentions(text)}"
    return fallback, [
        section(f"📣 *Update — {headline(incident)}*{where}\n{with_mentions(text)}"),
        {"type": "context", "elements": [mrkdwn(f"{incident.status.label} · from {user(actor)}")]},
    ]


def incident_list(incidents: list[Incident]) -> Mrkdwn:
    lines = ["*Open incidents*"]
    for inc in sorted(incidents, key=lambda i: (i.severity.value, i.number)):
        where = channel(inc.channel_id, "(no channel yet)")
        commander = user(inc.commander) if inc.commander else "no IC"
        lines.append(
            f"{inc.severity.emoji} *{inc.id}* [{inc.severity.value}] {escape(inc.title)} · "
            f"{inc.status.value} · IC {commander} · {where} · since {slack_date(inc.created_at)}"
        )
    return "\n".join(lines)


def timeline_text(incident: Incident, entries: list[TimelineEntry]) -> Mrkdwn:
    """Entries' texts are mrkdwn already (`bot.incident`: escaped where they were made)."""
    lines = [f"*Timeline of {incident.id}* (UTC)"]
    for entry in entries:
        lines.append(f"`{entry.at.strftime('%Y-%m-%d %H:%M:%S')}` {entry.text}")
    return "\n".join(lines)


def declare_modal(
    channel_id: str,
    title: str = "",
    severity: Severity | None = None,
    *,
    service: str = "",
    description: str = "",
    alert_group: str | None = None,
) -> Block:
    """The declare form; pre-filled when it comes from an alert (whose thread it links to)."""
    metadata = json.dumps({"channel": channel_id, "alert_group": alert_group})
    options = [
        _plain_option(f"{s.value} — {SEVERITY_MATRIX[s][0]}"[:75], s.value) for s in Severity
    ]
    chosen = severity or Severity.P2
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input(
                "title",
                "Title",
                {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": 150,
                    "initial_value": title,
                    "placeholder": {"type": "plain_text", "text": "What is broken, for whom"},
                },
            ),
            _input(
                "severity",
                "Severity",
                {
                    "type": "static_select",
                    "action_id": "value",
                    "options": options,
                    "initial_option": next(o for o in options if o["value"] == chosen.value),
                },
            ),
            _input(
                "service",
                "Affected service",
                _prefilled(
                    {"type": "plain_text_input", "action_id": "value", "max_length": 80}, service
                ),
                optional=True,
            ),
            _input(
                "description",
                "Description",
                _prefilled(
                    {
                        "type": "plain_text_input",
                        "action_id": "value",
                        "multiline": True,
                        "max_length": 2900,
                    },
                    description[:2900],
                ),
                optional=True,
            ),
            _input(
                "commander",
                "Incident commander",
                {"type": "users_select", "action_id": "value"},
                optional=True,
                hint="Leave empty to take command yourself.",
            ),
        ],
    }


def text_modal(
    callback_id: str,
    incident: Incident,
    title: str,
    label: str,
    submit: str,
    optional: bool = False,
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": incident.id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"*{headline(incident)}*"),
            _input(
                "text",
                label,
                {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2900,
                },
                optional=optional,
            ),
        ],
    }


def _input(
    block_id: str, label: str, element: Block, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _prefilled(element: Block, value: str) -> Block:
    return {**element, "initial_value": value} if value else element


def declare_origin(private_metadata: str) -> tuple[str | None, str | None]:
    """(channel, alert group) a declare form came from."""
    try:
        data = json.loads(private_metadata)
    except ValueError:
        return (private_metadata or None), None
    if not isinstance(data, dict):
        return None, None
    return data.get("channel") or None, data.get("alert_group") or None


def _plain_option(text: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text}, "value": value}
