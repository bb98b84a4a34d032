"""The rules `diagnose` reasons with: each one small function, named, from evidence to a finding.

A rule reads an `Evidence` (bot/diagnostics/evidence.py) and returns a `Finding` — the cause
in one line, with the evidence for it, and how sure it is — or None when what it looks for is
not there. `DEFAULT_RULES` is the table `diagnose` runs; a team adds its own by handing
`Diagnose(rules=(*DEFAULT_RULES, Rule("my-rule", my_rule)))` to the app. Findings are ranked
by confidence, then by their rule's place in the table: the first names the most likely cause
with its strongest evidence, and that is `diagnose`'s first line.

The rules are the seed playbooks' own guides (playbooks/*.yaml), written as checks: OOMKilled
is memory; a crash loop is told by its previous container's last lines; errors that began
with a rollout point at it, and errors that began before it clear it; `too many clients` and
pool timeouts are the connection pool; CPU at its limit, or an autoscaler at its maximum, is
capacity; 429 from upstream is rate limiting, 502/503 from it is a failing dependency.

Confidence is a judgement, not a probability: 0.9 where the platform says it outright
(OOMKilled, an image that cannot be pulled), 0.7–0.85 where one strong signal points at the
cause, 0.4–0.6 for a symptom without a cause. Log text is quoted as its template (the words of
the message, what varies masked), already redacted.
"""

from __future__ import annotations

import logging

from bot.diagnostics.evidence import Evidence
from bot.diagnostics.findings import Finding, Remedy, Rule

__all__ = [
    "DEFAULT_RULES",
    "Finding",
    "Remedy",
    "Rule",
    "autoscaler_maxed",
    "connection_pool",
    "cpu_saturated",
    "crash_loop",
    "dependency_failing",
    "error_rate_raised",
    "errors_since_rollout",
    "findings",
    "image_pull",
    "latency_raised",
    "log_errors",
    "memory_pressure",
    "oom_killed",
    "pods_not_ready",
    "probe_failing",
    "slow_queries",
    "upstream_rate_limited",
]
from bot.diagnostics.rules_logs import (
    connection_pool,
    dependency_failing,
    error_rate_raised,
    errors_since_rollout,
    latency_raised,
    log_errors,
    slow_queries,
    upstream_rate_limited,
)
from bot.diagnostics.rules_pods import (
    autoscaler_maxed,
    cpu_saturated,
    crash_loop,
    image_pull,
    memory_pressure,
    oom_killed,
    pods_not_ready,
    probe_failing,
)

log = logging.getLogger(__name__)

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("image-pull", image_pull),
    Rule("oom-killed", oom_killed),
    Rule("crash-loop", crash_loop),
    Rule("errors-since-rollout", errors_since_rollout),
    Rule("connection-pool", connection_pool),
    Rule("upstream-rate-limited", upstream_rate_limited),
    Rule("probe-failing", probe_failing),
    Rule("autoscaler-maxed", autoscaler_maxed),
    Rule("slow-queries", slow_queries),
    Rule("dependency-failing", dependency_failing),
    Rule("cpu-saturated", cpu_saturated),
    Rule("memory-pressure", memory_pressure),
    Rule("error-rate", error_rate_raised),
    Rule("latency", latency_raised),
    Rule("pods-not-ready", pods_not_ready),
    Rule("log-errors", log_errors),
)


def findings(evidence: Evidence, rules: tuple[Rule, ...] = DEFAULT_RULES) -> list[Finding]:
    """Every rule's finding, most likely first (confidence, then the rule's place). A rule
    that fails (a bug, an API shape it did not expect) is named among the failures; the others
    still count."""
    found: list[tuple[int, Finding]] = []
    for index, rule in enumerate(rules):
        try:
            finding = rule.check(evidence)
        except Exception:
            log.exception("diagnosis rule %s failed", rule.name)
            evidence.failures.append(f"rule {rule.name}: internal error (in the bot's log)")
            continue
        if finding is not None:
            found.append((index, finding))
    found.sort(key=lambda item: (-item[1].confidence, item[0]))
    return [f for _, f in found]
