"""The lines of `diagnose`'s answer below its first: the other likely causes, the state line,
the findings, the log patterns, and what it checked.

Several rules may see the same thing (one error line is a failing dependency, the raised error
rate's most frequent error and the logs' most frequent error): each fact is said once in the
top lines and once in the findings, by the most likely finding that has it (`unsaid`)."""

from __future__ import annotations

from datetime import datetime

from bot.actions.base import Context
from bot.actions.output import table
from bot.blockkit import counted
from bot.diagnostics import messages
from bot.diagnostics.actions.pods import pods_headline
from bot.diagnostics.evidence import Evidence, show
from bot.diagnostics.findings import Finding, unsaid
from bot.diagnostics.fitting import SECTION_BUDGET, slack_length

ERROR_RATE_QUERY = "error-rate"
LATENCY_QUERY = "p95-latency"


def confidence(value: float) -> str:
    return "high" if value >= 0.8 else "medium" if value >= 0.6 else "low"


def also_line(found: list[Finding], most: int = 2) -> str:
    """`Also: …`, the next likely findings (confidence 0.5 or more) below the first line, each
    without what the first line or an earlier one said; "" when they add nothing."""
    if not found:
        return ""
    said: set[str] = set()
    unsaid(found[0], said)
    also: list[str] = []
    for finding in found[1:]:
        if len(also) == most or finding.confidence < 0.5:
            break
        line = unsaid(finding, said)
        if line:
            also.append(line)
    return "Also: " + " · ".join(also) if also else ""


def findings_text(found: list[Finding]) -> str:
    """Every finding, most likely first: the first as the cause named above (not restated),
    with its confidence and evidence; the others without what an earlier line said. Empty
    when that would only say "the cause above, high confidence": the first line has said it."""
    said: set[str] = set()
    lines = []
    for index, finding in enumerate(found):
        line = unsaid(finding, said)
        if line is None:
            continue
        sure = confidence(finding.confidence)
        if index == 0:
            lines.append(f"• {messages.cause_above(sure)}")
        else:
            lines.append(f"• {line} ({sure} confidence)")
        for more in finding.evidence:
            if more not in said:
                said.add(more)
                lines.append(f"   – {more}")
    if len(lines) == 1 and found and confidence(found[0].confidence) == "high":
        return ""
    return "\n".join(lines)


def signal_label(name: str) -> str:
    """A query's name as words (`p95-latency` → `p95 latency`), as the findings write it."""
    return "error rate" if name == ERROR_RATE_QUERY else name.replace("-", " ")


def state_line(evidence: Evidence, said: str = "") -> str:
    """The state at a glance: pods, the rollout, the signals, autoscaling; without what `said`
    (the lines above it) says already, word for word."""
    parts = (
        pods_headline([p.row for p in evidence.pods], evidence.now)
        if evidence.pods
        else ["no pods found"]
    )
    rolled = evidence.rolled_out()
    if rolled:
        parts.append(rolled)
    for name, s in sorted(evidence.signals.items()):
        parts.append(f"{signal_label(name)} {show(s.now, s.unit)}")
    hot = [u for u in evidence.usage or [] if u.hot]
    if hot:
        parts.append(f"{counted(len(hot), 'container')} > 80 % of a limit")
    hpa = evidence.hpa()
    if hpa is not None:
        spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
        if int(status.get("currentReplicas") or 0) >= int(spec.get("maxReplicas") or 1 << 30):
            parts.append(f"HPA {hpa['metadata']['name']} pinned at max")
    return " · ".join(part for part in parts if part not in said)


def patterns_text(evidence: Evidence) -> str:
    """The log patterns as a table: counts, first and last seen as ages (`20m ago`, as every
    other time in the diagnosis; a line without a time by its place), and, when the logs reach
    before the latest rollout, the counts before and after it."""
    templates = evidence.templates or []

    def seen(at: datetime | None, when: str) -> str:
        return f"{evidence.ago(at)} ago" if at is not None else when

    latest = evidence.split_at_rollout()
    split = latest is not None
    count = min(12, len(templates))
    while True:
        rows = []
        for t in templates[:count]:
            first, last = seen(t.first_at, t.first_seen), seen(t.last_at, t.last_seen)
            row = [f"×{t.count}", t.level.upper(), first, last]
            if split:
                row += [str(t.before), str(t.after)]
            rows.append([*row, t.template[:120]])
        header = ["COUNT", "LEVEL", "FIRST", "LAST"]
        if split and latest is not None:
            header += [f"<REV {latest.number}", f"≥REV {latest.number}"]
        text = table(rows, [*header, "PATTERN"])
        if count < len(templates):
            text += f"\n… and {len(templates) - count} rarer patterns"
        if slack_length(text) <= SECTION_BUDGET or count <= 1:
            return text
        count -= 1


def checked(evidence: Evidence, ctx: Context) -> list[str]:
    """What was looked at, for the line that says so (and for "nothing wrong")."""
    checked = []
    if evidence.pods:
        restarts = sum(p.row.restarts for p in evidence.pods)
        ready = f"{evidence.ready}/{len(evidence.pods)} pods ready"
        checked.append(f"{ready}, {counted(restarts, 'restart')}")
    warnings = sum(1 for e in evidence.events if e.get("type") == "Warning")
    checked.append(counted(warnings, "warning event"))
    if evidence.usage is not None:
        checked.append(
            f"CPU and memory of {counted(len(evidence.usage), 'container')} against limits"
        )
    if evidence.templates is not None:
        errors = sum(t.count for t in evidence.templates if t.level == "error")
        pods = counted(len(evidence.logs_from), "pod")
        checked.append(f"{counted(errors, 'error line')} in the logs of {pods}")
    for name, s in sorted(evidence.signals.items()):
        checked.append(f"{signal_label(name)} {show(s.now, s.unit)}")
    rolled = evidence.rolled_out()
    if rolled:
        checked.append(rolled)
    if evidence.hpas:
        checked.append("autoscaling")
    return checked
