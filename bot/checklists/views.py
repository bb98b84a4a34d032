"""Block Kit for checklists and reminders. Pure functions of what Redis holds.

A checklist message is always rendered from the recorded answers (never from the copy of the
message a click came from), so editing it in place after any click shows every answer so far.
"""

from __future__ import annotations

from bot.blockkit import ACK, Block, button, cut, escape, plain, slack_date, user
from bot.checklists import messages
from bot.checklists.models import Answer, PostedChecklist
from bot.checklists.reminders import SNOOZES
from bot.incident import Incident

CHECK_DONE = "checklist_done"
CHECK_NA = "checklist_na"
SNOOZE = "update_snooze"

Overdue = list[tuple[PostedChecklist, int, str]]
"""Items still open from earlier marks: (their checklist, item number, text)."""


def item_value(incident_id: str, minutes: int, item: int) -> str:
    return f"{incident_id}|{minutes}|{item}"


def parse_item_value(value: str) -> tuple[str, int, int]:
    incident_id, minutes, item = value.split("|")
    return incident_id, int(minutes), int(item)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": cut(text, 3000), "verbatim": True}


def _answered(answer: Answer) -> str:
    mark = "✅ Done" if answer.kind == "done" else "➖ Not applicable"
    return f"{mark} — {user(answer.user)}, {slack_date(answer.at, '{time}')}"


def checklist(
    incident: Incident,
    posted: PostedChecklist,
    overdue: Overdue,
    mention: str | None,
) -> tuple[str, list[Block]]:
    """The checklist message: one row per item with its answer, or Done / N/A buttons."""
    spec = posted.spec
    heading = messages.checklist_heading(incident.id, spec.title, posted.late_by)
    body: list[Block] = [{"type": "header", "text": plain(heading[:150])}]
    if posted.late_by >= messages.LATE_AFTER_S:
        body.append({"type": "context", "elements": [_mrkdwn(messages.late(posted.late_by))]})
    for number, text in enumerate(spec.items, 1):
        answer = posted.answers.get(number)
        if answer is None:
            body.append({"type": "section", "text": _mrkdwn(f"⬜ {escape(text)}")})
            value = item_value(incident.id, spec.minutes, number)
            body.append(
                {
                    "type": "actions",
                    "block_id": f"item-{number}",
                    "elements": [
                        button("Done", CHECK_DONE, value, "primary"),
                        button("Not applicable", CHECK_NA, value),
                    ],
                }
            )
        else:
            body.append(
                {"type": "section", "text": _mrkdwn(f"{escape(text)}\n{_answered(answer)}")}
            )
    if overdue:
        lines = [f"• _{escape(c.spec.title)}_: {escape(text)}" for c, _, text in overdue]
        body.append({"type": "divider"})
        body.append(
            {"type": "section", "text": _mrkdwn(messages.overdue_heading(mention, len(overdue)))}
        )
        body.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
    done = len(posted.answers)
    fallback = messages.checklist_fallback(incident.id, spec.title, done, len(spec.items))
    if overdue and mention:
        fallback = f"{fallback} {messages.overdue_heading(mention, len(overdue))}"
    return fallback, body


def ack_reminder(incident: Incident, late_s: float) -> tuple[str, list[Block]]:
    text = messages.ack_reminder(incident.id, incident.severity.value, incident.commander, late_s)
    return text, [
        {"type": "section", "text": _mrkdwn(text)},
        {
            "type": "actions",
            "elements": [button("Acknowledge", ACK, incident.id, "primary")],
        },
    ]


def escalation(incident: Incident, text: str) -> list[Block]:
    """The escalation page (`text`, mrkdwn) with Acknowledge: who is paged can answer it here."""
    return [
        {"type": "section", "text": _mrkdwn(text)},
        {"type": "actions", "elements": [button("Acknowledge", ACK, incident.id, "primary")]},
    ]


def update_reminder(incident: Incident, silent_s: float) -> tuple[str, list[Block]]:
    text = messages.update_reminder(incident.id, incident.commander, silent_s)
    labels = {"30m": "Snooze 30 min", "1h": "Snooze 1 h", "resolved": "Until resolved"}
    return text, [
        {"type": "section", "text": _mrkdwn(text)},
        {
            "type": "actions",
            "elements": [
                button(labels[choice], f"{SNOOZE}_{choice}", f"{incident.id}|{choice}")
                for choice in SNOOZES
            ],
        },
    ]


def snoozed(incident: Incident, user: str, choice: str) -> tuple[str, list[Block]]:
    text = messages.snoozed(incident.id, user, choice)
    return text, [{"type": "context", "elements": [_mrkdwn(text)]}]
