"""Block Kit building blocks every feature renders with, and the IDs of Fireline's buttons.

The incident card, checklists, approval cards, alert threads and playbook runs all build their
messages from these few pure functions, so each feature's `views` module depends only on this
one and on its own records, never on another feature's views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Block = dict[str, Any]

ACK = "incident_ack"
TAKE_COMMAND = "incident_take_command"
SEVERITY = "incident_severity"
POST_UPDATE = "incident_post_update"
RESOLVE = "incident_resolve"
DECLARE_VIEW = "incident_declare"
UPDATE_VIEW = "incident_update"
RESOLVE_VIEW = "incident_resolve_view"
REMEDIATION_REQUEST = "remediation.request"
"""A button anywhere that requests a remediation; its value is JSON
`{"action": "restart", "params": {"deployment": …, "namespace": …}, "incident": "INC-7"?}`."""


def slack_date(when: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    ts = int(when.timestamp())
    return f"<!date^{ts}^{fmt}|{when.strftime('%Y-%m-%d %H:%M UTC')}>"


def human_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(p for p in parts if p)


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text[:3000])}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text[:3000])]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element
