"""How an alert group looks in Slack: one parent message, edited in place, and its thread.

Everything in an alert (name, labels, annotations, URLs) is Alertmanager's and so outside text:
escaped, and its URLs linked only when they are http(s) (`blockkit.link`).
"""

from __future__ import annotations

from bot.alerts.store import AlertGroup, AlertState
from bot.blockkit import Block, Mrkdwn, button, code, context, escape, link, section, user

MAX_LISTED = 10
ACK_ALERT = "alert_ack"
DECLARE_FROM_ALERT = "alert_declare"
RUN_PLAYBOOK = "alert_run_playbook"
SILENCE_ALERT = "alert_silence"

SEVERITY_EMOJI = {"critical": "🔴", "error": "🟠", "warning": "🟡", "info": "🔵"}


def headline(group: AlertGroup) -> Mrkdwn:
    state = "✅ RESOLVED" if group.status == "resolved" else "🔥 FIRING"
    severity = f" [{group.severity}]" if group.severity else ""
    return escape(f"{state}{severity} {group.title}")


def distinct_labels(alert: AlertState, common: dict[str, str]) -> Mrkdwn:
    own = {k: v for k, v in alert.labels.items() if common.get(k) != v}
    return escape(", ".join(f"{k}={v}" for k, v in sorted(own.items())) or alert.fingerprint)


def parent(group: AlertGroup) -> tuple[str, list[Block]]:
    emoji = SEVERITY_EMOJI.get(group.severity, "⚪")
    counts = f"{len(group.firing)} firing · {len(group.resolved)} resolved"
    if group.truncated:
        counts += f" · {group.truncated} more not sent by Alertmanager"
    summary = escape(group.summary)
    text = f"{headline(group)} — {summary}" if summary else headline(group)
    lines = [f"{emoji} *{headline(group)}*"]
    if summary:
        lines.append(summary)
    lines.append(counts)
    body: list[Block] = [section("\n".join(lines))]
    labels = " · ".join(code(f"{k}={v}") for k, v in sorted(group.common_labels.items()))
    if labels:
        body.append(context(labels))
    links = [
        link(url, name)
        for name, url in (
            ("Graph", group.generator_url),
            ("Runbook", group.runbook_url),
            ("Alertmanager", group.external_url),
        )
        if url
    ]
    notes = []
    if group.acknowledged_by:
        notes.append(f"👀 acknowledged by {user(group.acknowledged_by)}")
    if group.incident_id:
        notes.append(f"🚨 {group.incident_id} declared")
    if links or notes:
        body.append(context("  ·  ".join(links + notes)))
    if group.status == "firing":
        buttons: list[Block] = []
        if group.acknowledged_by is None:
            buttons.append(button("Acknowledge", ACK_ALERT, group.group_id, "primary"))
        if group.incident_id is None:
            buttons.append(button("Declare incident", DECLARE_FROM_ALERT, group.group_id))
        if group.playbook:
            buttons.append(button("Run playbook", RUN_PLAYBOOK, group.group_id))
        buttons.append(button("Silence 1 h", SILENCE_ALERT, group.group_id))
        if buttons:
            body.append({"type": "actions", "block_id": "alert_actions", "elements": buttons})
    return text, body


def changes(group: AlertGroup, firing: list[AlertState], resolved: list[AlertState]) -> Mrkdwn:
    """The thread reply for what changed in one notification."""
    lines: list[str] = []
    for label, alerts, emoji in (("firing", firing, "🔥"), ("resolved", resolved, "✅")):
        if not alerts:
            continue
        lines.append(f"{emoji} {len(alerts)} {label}:")
        for alert in alerts[:MAX_LISTED]:
            summary = (
                f" — {escape(alert.summary)}"
                if alert.summary and alert.summary != group.summary
                else ""
            )
            lines.append(f"• {distinct_labels(alert, group.common_labels)}{summary}")
        if len(alerts) > MAX_LISTED:
            lines.append(f"… and {len(alerts) - MAX_LISTED} more")
    if group.status == "resolved":
        lines.append("All alerts in this group are resolved.")
    return "\n".join(lines)
