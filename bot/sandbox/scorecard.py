"""How the team did in a drill: timings from the alert, and the checklist answers. Pure.

Rendered twice, like the incident's own post-incident report a function of what Redis holds:
as Block Kit for the message in the incident channel (`blocks`: Slack renders Block Kit, not
Markdown, so no `#` or `| --- |` reaches a message), and as Markdown above the product's report
for the file uploaded beside it (`render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import blockkit
from bot.blockkit import Block
from bot.checklists.models import PostedChecklist
from bot.incident import Incident
from bot.policy.alerts import ALERT_PRINCIPAL

NO_RESULT = {"denied", "rate-limited", "rejected", "failed", "timeout", "error"}
"""Audit outcomes that did not show the person anything about the system."""


@dataclass(frozen=True)
class Score:
    """Seconds of sandbox time from the first alert to each milestone (None: never reached)."""

    incident_id: str
    declared: float | None
    acknowledged: float | None
    diagnosed: float | None
    mitigated: float | None
    resolved: float | None
    answered: int
    not_applicable: int
    unanswered: int


def _after(start: datetime, when: datetime | None) -> float | None:
    return None if when is None else max(0.0, (when - start).total_seconds())


def first_diagnosis(start: datetime, audit: Sequence[Mapping[str, str]]) -> datetime | None:
    """The first diagnostic a person ran that answered with a result since `start` (anyone,
    anywhere). What the alert pipeline ran on its own (the playbook on an alert's first firing)
    is the bot's work, not the team's, and does not count."""
    times = []
    for record in audit:
        if record.get("user") == ALERT_PRINCIPAL:
            continue
        try:
            at = datetime.fromisoformat(record.get("at", ""))
        except ValueError:
            continue
        if at >= start and record.get("outcome") not in NO_RESULT:
            times.append(at)
    return min(times, default=None)


def score(
    start: datetime,
    incident: Incident,
    audit: Sequence[Mapping[str, str]],
    checklists: Sequence[PostedChecklist],
) -> Score:
    kinds = [a.kind for c in checklists for a in c.answers.values()]
    asked = sum(len(c.spec.items) for c in checklists)
    return Score(
        incident.id,
        declared=_after(start, incident.created_at),
        acknowledged=_after(start, incident.acknowledged_at),
        diagnosed=_after(start, first_diagnosis(start, audit)),
        mitigated=_after(start, incident.mitigated_at or incident.resolved_at),
        resolved=_after(start, incident.resolved_at),
        answered=kinds.count("done"),
        not_applicable=len(kinds) - kinds.count("done"),
        unanswered=asked - len(kinds),
    )


def _time(seconds: float | None, target_s: float | None = None) -> str:
    if seconds is None:
        return "not reached"
    shown = duration(seconds)
    if target_s is None:
        return shown
    verdict = "✅ within" if seconds <= target_s else "⚠️ over"
    return f"{shown} ({verdict} the {duration(target_s)} target)"


def duration(seconds: float) -> str:
    """`4 min 05 s`, `1 h 02 min`: drills are scored to the second."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _rows(
    result: Score, targets: Mapping[str, float]
) -> list[tuple[str, float | None, float | None]]:
    return [
        ("Declare an incident", result.declared, targets.get("declare")),
        ("Acknowledge", result.acknowledged, targets.get("acknowledge")),
        ("First diagnosis (a diagnostic with a result)", result.diagnosed, targets.get("diagnose")),
        ("Mitigate", result.mitigated, targets.get("mitigate")),
        ("Resolve", result.resolved, None),
    ]


def _tally(result: Score) -> str:
    return (
        f"{result.answered} done, {result.not_applicable} not applicable, "
        f"{result.unanswered} left open."
    )


def blocks(
    title: str, result: Score, targets: Mapping[str, float], speed: float
) -> tuple[str, list[Block]]:
    """The drill's score as a Slack message: (fallback text, Block Kit). One field per
    milestone (Slack lays fields out in two columns), each with its verdict against the target."""
    rows = _rows(result, targets)
    met = [s is not None and s <= t for _, s, t in rows if t is not None]
    verdict = "every target met" if all(met) else f"{met.count(True)} of {len(met)} targets met"
    fields = [
        blockkit.mrkdwn(f"*{blockkit.escape(name)}*\n{blockkit.escape(_time(seconds, target))}")
        for name, seconds, target in rows
    ]
    text = blockkit.escape(f"Drill report: {title} ({result.incident_id}): {verdict}.")
    return text, [
        {"type": "header", "text": blockkit.plain(f"Drill: {title} — {result.incident_id}"[:150])},
        blockkit.context(
            blockkit.escape(
                f"Drill time from the moment the first alert fired (the sandbox ran at "
                f"×{speed:g}): {verdict}."
            )
        ),
        {"type": "section", "fields": fields},
        blockkit.section(f"*Checklists:* {blockkit.escape(_tally(result))}"),
        blockkit.context(
            "The whole report (the incident's timeline, checklist answers) is in the file below."
        ),
    ]


def render(title: str, result: Score, targets: Mapping[str, float]) -> str:
    """The drill section in Markdown (the report file): a table of timings from the first
    alert, then the checklist tally."""
    rows = _rows(result, targets)
    lines = [
        f"# Drill: {title} — {result.incident_id}",
        "",
        "Times are sandbox time from the moment the first alert fired.",
        "",
        "| Milestone | Time from the alert |",
        "| --- | --- |",
        *[f"| {name} | {_time(seconds, target)} |" for name, seconds, target in rows],
        "",
        f"**Checklists:** {_tally(result)}",
        "",
    ]
    return "\n".join(lines)
