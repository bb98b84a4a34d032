"""What a diagnosis rule gives (`Finding`, `Remedy`), what a rule is (`Rule`), and the small
helpers rules share to quote logs and name what they saw."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.diagnostics.evidence import Evidence, show
from bot.diagnostics.logpatterns import Template, message
from bot.runtime.patterns import Pattern

log = logging.getLogger(__name__)

QUOTE_MAX = 120
MEMORY_PRESSURE = 0.9
CPU_SATURATED = 0.9


@dataclass(frozen=True)
class Remedy:
    """A remediation that answers a finding: its name (as the policy and the approval flow
    know it), parameters beyond the deployment and namespace, and why it fits."""

    action: str
    why: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    """A piece of a finding's line that other findings may say too: `key` names what it says
    (a quoted log template's own text, `began-before-rollout`, `error-rate`, `p95-latency`),
    `text` is how this line writes it, verbatim ("" when the line cannot go without it)."""

    key: str
    text: str


@dataclass(frozen=True)
class Finding:
    rule: str
    cause: str
    """One line: the cause and its strongest evidence."""
    confidence: float
    evidence: tuple[str, ...] = ()
    """The rest of what supports it, one line each."""
    remedies: tuple[Remedy, ...] = ()
    facts: tuple[Fact, ...] = ()
    """The pieces of `cause` other findings may say too: a message says each once (`unsaid`)."""
    only: str = ""
    """The key of the fact this finding is nothing more than (the most frequent error line, a
    raised error rate): once a message has said it, the finding is left out of it."""


def unsaid(finding: Finding, said: set[str]) -> str | None:
    """`finding.cause` without the facts `said` already (which then holds this line's facts
    too); None when the finding adds nothing to what was said."""
    if finding.only and finding.only in said:
        return None
    line = finding.cause
    for fact in finding.facts:
        if fact.key in said and fact.text:
            line = line.replace(fact.text, "", 1)
        said.add(fact.key)
    if finding.only:
        said.add(finding.only)
    return line


def quoted(template: Template, lead: str = ": ") -> Fact:
    """The fact of a quoted template (`counted`), written after `lead` in a finding's line."""
    return Fact(counted(template), lead + counted(template))


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Evidence], Finding | None]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip().split("\n\n")[0]


def quote(template: Template) -> str:
    """The group's latest line as it was written, numbers and all ("20/20 in use, 57
    waiting"): the template (`<n>/<n>`) is how lines were grouped, not what a responder reads.
    Already redacted."""
    text = message(template.latest) or template.template
    if len(text) > QUOTE_MAX:
        text = text[: QUOTE_MAX - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def counted(template: Template) -> str:
    """`` `template` ×312 ``."""
    return f"{quote(template)} ×{template.count}"


def matching(
    evidence: Evidence, pattern: Pattern, levels: tuple[str, ...] = ("error", "warning")
) -> list[Template]:
    return [
        t
        for t in evidence.templates or []
        if t.level in levels and pattern.search(t.template) and t.count >= 3
    ]


def _since(evidence: Evidence) -> str:
    """`, since rev 3 rolled out 22m ago` when the trouble began with the latest rollout."""
    latest = evidence.recent_rollout()
    if latest is not None and latest.rolled_out_at is not None and evidence.began_after_rollout():
        return f" since rev {latest.number} rolled out {evidence.ago(latest.rolled_out_at)} ago"
    return ""


def _before_fact(evidence: Evidence) -> tuple[Fact, ...]:
    """`_before` as a fact: every finding that says it says the same thing."""
    text = _before(evidence)
    return (Fact("began-before-rollout", text),) if text else ()


def _before(evidence: Evidence) -> str:
    """`; began 40m ago, before rev 6 rolled out 12m ago` when a recent rollout is innocent;
    while it is still rolling out (a rollback half done), that the earlier revision's pods
    still serve, so that the errors read are theirs."""
    latest = evidence.recent_rollout(timedelta(hours=24))
    began = evidence.trouble_began()
    if latest is None or latest.rolled_out_at is None or began is None:
        return ""
    if not evidence.began_before_rollout():
        return ""
    rolling = evidence.rolling_out()
    if rolling is not None:
        older, pods = rolling
        return (
            f"; began {evidence.ago(began)} ago, before rev {latest.number} began rolling out "
            f"{evidence.ago(latest.rolled_out_at)} ago (not the rollout; still rolling out: "
            f"{older} of {pods} pods run an earlier revision)"
        )
    return (
        f"; began {evidence.ago(began)} ago, before rev {latest.number} rolled out "
        f"{evidence.ago(latest.rolled_out_at)} ago (not the rollout)"
    )


def _slower(evidence: Evidence) -> Fact:
    """`; p95 latency 1.8 s, was 120 ms` when latency rose ("" when it did not)."""
    latency = evidence.signals.get("p95-latency")
    if latency is None or not latency.raised:
        return Fact("p95-latency", "")
    return Fact(
        "p95-latency",
        f"; p95 latency {show(latency.now, latency.unit)}, was "
        f"{show(latency.baseline, latency.unit)}",
    )


def _rollback(evidence: Evidence, what: str) -> tuple[Remedy, ...]:
    latest = evidence.latest
    if evidence.previous is None or latest is None or not evidence.began_after_rollout():
        return ()
    return (Remedy("rollback", f"{what} began after {evidence.rolled_out()}"),)


def _memory_limit(evidence: Evidence) -> tuple[float, float] | None:
    """The highest memory use against its limit: (share, limit in bytes)."""
    rows = [u for u in evidence.usage or [] if u.mem_limit]
    if not rows:
        return None
    top = max(rows, key=lambda u: u.memory / u.mem_limit)
    return top.memory / top.mem_limit, top.mem_limit


def _mem(value: float) -> str:
    if value >= 1024**3 and value % 1024**3 == 0:
        return f"{value / 1024**3:.0f}Gi"
    return f"{value / 1024**2:.0f}Mi"


def _cpu(cores: float) -> str:
    return f"{cores:g}" if cores >= 1 else f"{cores * 1000:.0f}m"


# --- the rules ----------------------------------------------------------------------------
