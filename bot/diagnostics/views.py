"""How a diagnosis's offers look in Slack: one section per remediation, its reason beside a
button that asks for it through the approval flow.

Pure. The button follows the contract with the approval flow (`blockkit.REMEDIATION_REQUEST`,
value `{"action", "params", "incident"?, "offered"?}`, `offered` being what the target was when
offered: `Verdict.seen`), the same as a playbook's guidance; each is the
accessory of its own section, since every such button shares one action ID. The label and the
reason hold names from Kubernetes (a deployment, a revision's image): escaped for mrkdwn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.blockkit import REMEDIATION_REQUEST, Block, context, cut, escape, mrkdwn, plain
from bot.diagnostics.remedies import Verdict

MAX_OFFERS = 3
VERBS = {"rollback": "Roll back", "restart": "Restart", "scale": "Scale", "delete-pod": "Delete"}


def label(verdict: Verdict) -> str:
    """The button's text: `Roll back checkout`, `Scale pricing to 6`, `Delete pod x`."""
    params = verdict.params
    target = str(params.get("pod") or params.get("deployment") or "")
    text = f"{VERBS.get(verdict.action, verdict.action)} {target}".strip()
    if verdict.action == "scale" and "replicas" in params:
        text += f" to {params['replicas']}"
    return text[:75]


def offer_blocks(verdicts: Iterable[Verdict], incident: str | None) -> list[Block]:
    chosen = list(verdicts)[:MAX_OFFERS]
    if not chosen:
        return []
    blocks: list[Block] = [
        context("Remediations ask for approval and show a preview before anything changes.")
    ]
    for i, verdict in enumerate(chosen):
        value: dict[str, object] = {"action": verdict.action, "params": verdict.params}
        if incident:
            value["incident"] = incident
        if verdict.seen:
            value["offered"] = verdict.seen
        text = label(verdict)
        blocks.append(
            {
                "type": "section",
                "block_id": f"diagnosis_remediation_{i}",
                "text": mrkdwn(cut(f"*{escape(text)}* — {escape(verdict.reason)}", 3000)),
                "accessory": {
                    "type": "button",
                    "text": plain(text),
                    "action_id": REMEDIATION_REQUEST,
                    "value": json.dumps(value, separators=(",", ":")),
                },
            }
        )
    return blocks
