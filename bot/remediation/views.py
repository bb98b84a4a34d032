"""The remediation approval card: what will change, the target now, who asked, and the buttons
for where the request stands. A pure function of the record; edited in place at every step.

The record's words (Kubernetes names and states, reasons, progress) are plain: escaped here."""

from __future__ import annotations

from typing import Any

from bot.blockkit import (
    Block,
    Mrkdwn,
    button,
    code,
    context,
    escape,
    plain,
    section,
    slack_date,
    user,
)
from bot.remediation import messages
from bot.remediation.store import Record, State

APPROVE = "remediation.approve"
DENY = "remediation.deny"
CANCEL = "remediation.cancel"
RECHECK = "remediation.recheck"
REPREVIEW = "remediation.repreview"
DENY_VIEW = "remediation.deny_view"
DENY_REASON = "reason"
WHEN = "{date_short_pretty} at {time}"
"""How a request's time reads in a sentence: "today at 03:12", in each reader's zone."""


def what(record: Record) -> str:
    """`restart task-service` — the request as typed."""
    return f"{record.action} {record.plan.name}"


def card(record: Record, approvers: Mrkdwn) -> tuple[str, list[Block]]:
    plan = record.plan
    incident = (
        f" · {escape(record.incident_id)} ({escape(record.severity or '?')})"
        if record.incident_id
        else ""
    )
    changes = "\n".join(
        f"• {escape(c.what)}: {escape(c.before)} → *{escape(c.after)}*" for c in plan.changes
    )
    status = messages.remediation_state_line(
        record.state.value,
        approver=record.approver,
        decided_by=record.decided_by,
        reason=record.reason,
        progress=record.progress,
        expires=slack_date(record.expires_at, "{time}"),
        approvers=approvers,
    )
    text = f"🛠 {record.id} {escape(what(record))} — {record.state.value}"
    after = f"   ·   After: {escape(record.after)}" if record.after else ""
    blocks: list[Block] = [
        section(
            f"🛠 *{record.id}* · {code(what(record))} · {escape(plan.kind)} {code(plan.name)} in "
            f"{code(f'{plan.cluster}/{plan.namespace}')}\nRequested by {user(record.requester)}"
            f"{incident}"
        ),
        section(f"*What changes*\n{changes}"),
        context(f"Now: {escape(plan.state)}{after}"),
        section(status),
    ]
    buttons = _buttons(record)
    if buttons:
        blocks.append(
            {"type": "actions", "block_id": f"remediation-{record.id}", "elements": buttons}
        )
    return text, blocks


def _buttons(record: Record) -> list[Block]:
    if record.state == State.PENDING:
        return [
            button("Approve", APPROVE, record.id, "primary"),
            button("Deny", DENY, record.id, "danger"),
            button("Cancel", CANCEL, record.id),
        ]
    if record.state == State.UNKNOWN:
        return [button("Re-check", RECHECK, record.id)]
    if record.state == State.STALE:
        return [button("Preview again", REPREVIEW, record.id)]
    return []


def as_typed(params: Any, target: str) -> str:
    """A request as it would be typed after its action's name (`checkout 4 -n orion-prod`), not
    its values run together; from validated params, never a button's raw value."""
    words = [target]
    if getattr(params, "replicas", None) is not None:
        words.append(str(params.replicas))
    if getattr(params, "to_revision", None) is not None:
        words.append(f"--to-revision {params.to_revision}")
    if getattr(params, "namespace", None):
        words.append(f"-n {params.namespace}")
    if getattr(params, "cluster", None):
        words.append(f"--cluster {params.cluster}")
    return " ".join(words)


def fresh_view(kind: str, name: str, namespace: str, cluster: str | None) -> str:
    """The command that shows a target as it is now, with fresh buttons ("" for a pod: it is
    replaced, not diagnosed)."""
    if kind != "deployment":
        return ""
    where = f" --cluster {cluster}" if cluster else ""
    return f"/incident diagnose {name} -n {namespace}{where}"


def deny_modal(record: Record) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": record.id,
        "title": plain(f"Deny {record.id}"[:24]),
        "submit": plain("Deny"),
        "close": plain("Back"),
        "blocks": [
            section(f"{code(what(record))} requested by {user(record.requester)}"),
            {
                "type": "input",
                "block_id": DENY_REASON,
                "label": {"type": "plain_text", "text": "Why (the requester reads this)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 500,
                },
            },
        ],
    }
