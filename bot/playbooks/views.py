"""How playbooks look in Slack: the list, a run's header, and its guidance with remediation buttons.

Pure functions. Remediation buttons follow the contract with the approval flow (issue 5): action
ID `blocks.REMEDIATION_REQUEST`, value JSON `{"action", "params", "incident"?, "offered"?}`
(`offered`: what the target was when the diagnosis offered it). Each button is
the accessory of its own section (a block's action IDs must be unique, and every remediation
button shares one), beside the line that says when it is the right move.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.blockkit import (
    REMEDIATION_REQUEST,
    Block,
    Mrkdwn,
    Plain,
    code,
    context,
    cut,
    escape,
    link,
    mrkdwn,
    plain,
    section,
    user,
)
from bot.playbooks.models import Offer, Playbook

MAX_BUTTON_TEXT = 75
APPROVAL_NOTE = "Remediations ask for approval and show a preview before anything changes."


@dataclass(frozen=True)
class FilledOffer:
    """A remediation offer with its parameters filled from the alert's labels."""

    offer: Offer
    params: dict[str, Any]
    text: str
    """What the remediation calls itself with these parameters (`Remediation.button`)."""
    reason: str = ""
    """Why it is offered now, from the diagnosis (`bot.diagnostics.remedies`)."""
    seen: dict[str, int] = field(default_factory=dict)
    """What the target was when offered (`Verdict.seen`): the button's `offered`."""

    @property
    def label(self) -> str:
        return self.text[:MAX_BUTTON_TEXT]


def listing(playbooks: Iterable[Playbook]) -> Mrkdwn:
    lines = [
        f"*Playbooks* — run one with {code('/incident playbook <name> [target] [-n namespace]')}:"
    ]
    for playbook in playbooks:
        names = ", ".join(playbook.match.alertnames[:3])
        hint = f" (alerts: {escape(names)})" if names else ""
        lines.append(f"• {code(playbook.name)} — {escape(playbook.title)}{hint}")
    return "\n".join(lines)


def where(labels: Mapping[str, str], target_label: str) -> Mrkdwn:
    """` on `checkout` in `orion-prod``, from the labels (an alert's, or typed)."""
    target = labels.get(target_label, "")
    namespace = labels.get("namespace", "")
    text = f" on {code(target)}" if target else ""
    return text + (f" in {code(namespace)}" if namespace else "")


def header(playbook: Playbook, labels: Mapping[str, str], by: str) -> tuple[str, list[Block]]:
    """The channel message a typed run starts with; diagnostics and guidance go in its thread."""
    text = f"📘 Playbook {escape(playbook.title)}{where(labels, playbook.target_label)}"
    body = [
        section(
            f"📘 *{escape(playbook.title)}*{where(labels, playbook.target_label)}\n"
            f"{escape(playbook.summary)}"
        ),
        context(f"Run by {user(by)} · diagnostics and next steps in the thread 🧵"),
    ]
    return text, body


def remediation_button(
    action: str,
    params: Mapping[str, Any],
    text: str,
    incident: str | None = None,
    offered: Mapping[str, int] | None = None,
) -> Block:
    value: dict[str, Any] = {"action": action, "params": dict(params)}
    if incident:
        value["incident"] = incident
    if offered:
        value["offered"] = dict(offered)
    return {
        "type": "button",
        "text": plain(text[:MAX_BUTTON_TEXT]),
        "action_id": REMEDIATION_REQUEST,
        "value": json.dumps(value, separators=(",", ":")),
    }


def guidance(
    playbook: Playbook,
    offers: list[FilledOffer],
    *,
    incident: str | None,
    notes: list[Mrkdwn],
    left_out: list[Plain] | None = None,
) -> tuple[str, list[Block]]:
    """Next steps: mitigations, long-term fixes, remediation buttons (each with why it is
    offered now), the remediations not offered and why, links, what was left out.

    The team wrote the playbook, but its words are still escaped (an `&` or a `<placeholder>` in
    a runbook line must read as written), and its links pass `blockkit.link`; so are the
    reasons, which hold names from Kubernetes."""
    text = f"Next steps: {escape(playbook.title)}"
    body: list[Block] = [section(f"🧭 *Next steps — {escape(playbook.title)}*")]
    body.append(section("*Mitigate now*\n" + _bullets(playbook.guidance.immediate)))
    body.append(section("*Fix for good*\n" + _bullets(playbook.guidance.long_term)))
    if offers:
        body.append(context(APPROVAL_NOTE))
    for i, filled in enumerate(offers):
        body.append(
            {
                "type": "section",
                "block_id": f"remediation_{i}",
                "text": mrkdwn(cut(_offer_text(filled), 3000)),
                "accessory": remediation_button(
                    filled.offer.action, filled.params, filled.label, incident, filled.seen
                ),
            }
        )
    if left_out:
        body.append(context("Not offered: " + "; ".join(escape(why) for why in left_out)))
    links = " · ".join(link(item.url, item.title) for item in playbook.links)
    body.append(context(f"📚 {links}"))
    if notes:
        body.append(context("\n".join(notes)))
    return text, body


def lead(first_line: Plain | None, intro: Mrkdwn | None) -> tuple[str, list[Block]]:
    """A run's first message: what the diagnosis names (it quotes log lines and Kubernetes
    text: escaped), and who the run is for under it."""
    lines = [f"🩺 {escape(first_line)}"] if first_line else []
    text = cut("\n".join([*lines, intro or ""]).strip(), 3000)
    body: list[Block] = []
    if first_line:
        body.append(section(cut(f"🩺 {escape(first_line)}", 3000)))
    if intro:
        body.append(context(intro))
    return text, body


def _offer_text(filled: FilledOffer) -> Mrkdwn:
    text = f"*{escape(filled.label)}* — {escape(filled.offer.when)}"
    if filled.reason:
        text += f"\n_Offered because {escape(filled.reason)}._"
    return text


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"• {escape(line)}" for line in lines)
