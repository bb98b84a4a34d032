"""The remediation approval card: what will change, the target now, who asked, and the buttons
for where the request stands. A pure function of the record; edited in place at every step.
Also the message whose button asked for a request: its button gives way to a line saying where
the request stands (`offer_answered`), so a spent button no longer invites a click.

The record's words (Kubernetes names and states, reasons, progress) are plain: escaped here."""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import datetime
from typing import Any

from bot.blockkit import (
    REMEDIATION_REQUEST,
    Block,
    Mrkdwn,
    button,
    code,
    context,
    cut,
    escape,
    plain,
    section,
    slack_date,
    user,
)
from bot.remediation import messages
from bot.remediation.actions.base import Change
from bot.remediation.store import Record, Source, State

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


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def shown_value(value: str) -> Mrkdwn:
    """A change's value as a person reads it: a time (`restartedAt`'s RFC 3339 stamp) in their
    own zone ("today at 05:28"), anything else escaped as it is."""
    if _STAMP.fullmatch(value):
        with contextlib.suppress(ValueError):
            return slack_date(datetime.fromisoformat(value.replace("Z", "+00:00")), WHEN)
    return escape(value)


def changes_text(changes: list[Change], *, bold_after: bool = False) -> Mrkdwn:
    """`what: before → after` for each change, `; ` between them (mrkdwn: escaped, times as
    times)."""
    star = "*" if bold_after else ""
    return "; ".join(
        f"{escape(c.what)}: {shown_value(c.before)} → {star}{shown_value(c.after)}{star}"
        for c in changes
    )


def card(record: Record, approvers: Mrkdwn) -> tuple[str, list[Block]]:
    plan = record.plan
    incident = (
        f" · {escape(record.incident_id)} ({escape(record.severity or '?')})"
        if record.incident_id
        else ""
    )
    changes = "\n".join(f"• {changes_text([c], bold_after=True)}" for c in plan.changes)
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
    # The preview's state is "now" only until the change reaches Kubernetes; from then on
    # (following the rollout, done) it is what the target was before.
    was = "Before" if record.applied or record.after else "Now"
    after = f"   ·   After: {escape(record.after)}" if record.after else ""
    blocks: list[Block] = [
        section(
            f"🛠 *{record.id}* · {code(what(record))} · {escape(plan.kind)} {code(plan.name)} in "
            f"{code(f'{plan.cluster}/{plan.namespace}')}\nRequested by {user(record.requester)}"
            f"{incident}"
        ),
        section(f"*What changes*\n{changes}"),
        context(f"{was}: {escape(plan.state)}{after}"),
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


def offer_line(record: Record, typed: str) -> Mrkdwn:
    """Where the request stands, in place of the button that asked for it; `typed` is the
    request as typed after `/incident <action>`."""
    plan = record.plan
    if record.state == State.SUCCEEDED:
        detail = changes_text(plan.changes)
    else:
        detail = escape(record.reason or record.progress or "")
    return messages.offer_line(
        record.state.value,
        what(record),
        record.id,
        requester=record.requester,
        approver=record.approver,
        decided_by=record.decided_by,
        when=slack_date(record.finished_at or record.requested_at, WHEN),
        detail=detail,
        again=f"/incident {record.action} {typed}",
        fresh=fresh_view(plan.kind, plan.name, plan.namespace, record.params.get("cluster")),
    )


def offer_answered(
    blocks: list[Block], source: Source, remediation_id: str, line: Mrkdwn
) -> list[Block]:
    """The message with the button that asked (`source`) given way to `line`, a context block
    the next edit replaces in turn. A section's button goes with its section (its text said
    why it was offered; the line says what became of it), the line keeping the block's ID, so a
    request asked again from an old copy of the message takes the line over; one of several
    buttons in an actions block goes alone, its line (`remediation-R-1`) after the block.
    Unchanged when neither is there (something else changed the message)."""
    own = f"remediation-{remediation_id}"
    shown = context(cut(line, 3000))
    if any(b.get("block_id") == own for b in blocks):
        return [{**shown, "block_id": own} if b.get("block_id") == own else b for b in blocks]
    out: list[Block] = []
    for block in blocks:
        if block.get("block_id") != source.block_id:
            out.append(block)
            continue
        elements = [
            e
            for e in block.get("elements") or []
            if not (e.get("action_id") == REMEDIATION_REQUEST and e.get("value") == source.value)
        ]
        if block.get("type") == "actions" and elements:
            out += [{**block, "elements": elements}, {**shown, "block_id": own}]
        else:
            out.append({**shown, "block_id": source.block_id})
    return out


def offer_outdated(blocks: list[Block], source: Source, line: Mrkdwn) -> list[Block]:
    """The message with the button that asked (`source`), clicked after its target changed,
    given way to `line` as `offer_answered` does; unchanged when the button is no longer
    there (a request's line took its place already, and says more)."""

    def has_button(block: Block) -> bool:
        elements = [*(block.get("elements") or []), block.get("accessory") or {}]
        return any(
            e.get("action_id") == REMEDIATION_REQUEST and e.get("value") == source.value
            for e in elements
        )

    if not any(b.get("block_id") == source.block_id and has_button(b) for b in blocks):
        return blocks
    # Its own line per button: another outdated button of the message gets one of its own.
    own = "outdated-" + hashlib.sha256(source.value.encode()).hexdigest()[:12]
    return offer_answered(blocks, source, own, line)


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
