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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.diagnostics.evidence import PULL_WAITING, Evidence, show
from bot.diagnostics.logpatterns import Template
from bot.runtime.patterns import Pattern, linear

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
class Finding:
    rule: str
    cause: str
    """One line: the cause and its strongest evidence."""
    confidence: float
    evidence: tuple[str, ...] = ()
    """The rest of what supports it, one line each."""
    remedies: tuple[Remedy, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Evidence], Finding | None]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip().split("\n\n")[0]


def quote(template: Template) -> str:
    text = template.template
    if len(text) > QUOTE_MAX:
        text = text[: QUOTE_MAX - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def counted(template: Template) -> str:
    """`` `template` ×312 ``, with ` (none before)` when lines from before the latest rollout
    were read and none had it."""
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
    if latest is not None and latest.created is not None and evidence.began_after_rollout():
        return f" since rev {latest.number} rolled out {evidence.ago(latest.created)} ago"
    return ""


def _before(evidence: Evidence) -> str:
    """`; began 40m ago, before rev 6 rolled out 12m ago` when a recent rollout is innocent."""
    latest = evidence.recent_rollout(timedelta(hours=24))
    began = evidence.trouble_began()
    if latest is None or latest.created is None or began is None:
        return ""
    if not evidence.began_before_rollout():
        return ""
    return (
        f"; began {evidence.ago(began)} ago, before rev {latest.number} rolled out "
        f"{evidence.ago(latest.created)} ago (not the rollout)"
    )


def _rollback(evidence: Evidence, what: str) -> tuple[Remedy, ...]:
    latest = evidence.latest
    if evidence.previous is None or latest is None or not evidence.began_after_rollout():
        return ()
    return (Remedy("rollback", f"{what} began after rev {latest.number} rolled out"),)


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


def image_pull(evidence: Evidence) -> Finding | None:
    """Pods whose image cannot be pulled never start: the image or its tag is wrong, or the
    registry refuses."""
    stuck = [p for p in evidence.pods if p.waiting in PULL_WAITING]
    if not stuck:
        return None
    image = next((i for p in stuck for i in p.images), "?")
    why = ""
    for event in evidence.events:
        message = str(event.get("message") or "")
        if event.get("reason") == "Failed" and "pull" in message.lower():
            why = ": " + message.rsplit(": ", 1)[-1][:80]
            break
    cause = (
        f"Image `{image}` cannot be pulled on {len(stuck)}/{len(evidence.pods)} pods"
        f"{_since(evidence)}{why}"
    )
    ready = f"{evidence.ready}/{len(evidence.pods)} pods ready"
    return Finding("image-pull", cause, 0.95, (ready,), _rollback(evidence, "the failing image"))


def oom_killed(evidence: Evidence) -> Finding | None:
    """Containers killed for going over their memory limit (OOMKilled, exit 137): a leak, or a
    limit too low for the load."""
    killed = [p for p in evidence.pods if p.oom_killed]
    if not killed:
        return None
    kills = sum(p.row.restarts for p in killed) or len(killed)
    last = max((p.last_finished for p in killed if p.last_finished), default=None)
    cause = f"OOMKilled ×{kills} on {len(killed)}/{len(evidence.pods)} pods{_since(evidence)}"
    if last is not None:
        cause += f" (last {evidence.ago(last)} ago)"
    memory = _memory_limit(evidence)
    if memory is not None:
        cause += f"; memory at {memory[0]:.0%} of its {_mem(memory[1])} limit".replace("%", " %")
    remedies = (
        *_rollback(evidence, "the memory growth"),
        Remedy("restart", "buys time before the next OOM kill; it does not fix the leak"),
    )
    return Finding("oom-killed", cause, 0.9, (), remedies)


def crash_loop(evidence: Evidence) -> Finding | None:
    """Containers that keep exiting (CrashLoopBackOff): the previous container's last lines
    say why."""
    crashing = [p for p in evidence.pods if p.crashing and not p.oom_killed]
    if not crashing:
        return None
    exits = sorted({p.last_exit for p in crashing if p.last_exit is not None})
    restarts = max(p.row.restarts for p in crashing)
    cause = (
        f"CrashLoopBackOff on {len(crashing)}/{len(evidence.pods)} pods{_since(evidence)} "
        f"(exit {', '.join(map(str, exits)) or '?'}, {restarts} restarts)"
    )
    last = _last_words(evidence, [p.name for p in crashing])
    if last:
        cause += f": `{last}`"
    return Finding("crash-loop", cause, 0.9, (), _rollback(evidence, "the crashes"))


_WORST = linear(r"(?i)\b(fatal|panic|error|exception|caused by|cannot|failed)\b", capture=False)


def _last_words(evidence: Evidence, pods: list[str]) -> str:
    """The most telling of the last lines a crashed container wrote (its last error line, else
    its last line), without the timestamp."""
    for pod in pods:
        lines = evidence.crash_lines.get(pod) or []
        telling = [line for line in lines if _WORST.search(line)] or lines
        if telling:
            text = telling[-1].split(" ", 1)[-1] if telling[-1][:4].isdigit() else telling[-1]
            text = text.replace("`", "'")
            return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"
    return ""


def errors_since_rollout(evidence: Evidence) -> Finding | None:
    """Errors that began with the latest rollout (and were not there before it): the release
    is the first suspect; roll back first, debug after."""
    latest = evidence.recent_rollout()
    if latest is None or latest.created is None or evidence.began_before_rollout():
        return None
    rate = evidence.signals.get("error-rate")
    errors = [
        t
        for t in evidence.templates or []
        if t.level == "error" and t.count >= 5 and t.before == 0 and t.first_at
        and t.first_at >= latest.created
    ]  # fmt: skip
    rate_rose = rate is not None and rate.began is not None and rate.began >= latest.created
    if not errors and not rate_rose:
        return None
    head = f"Errors since rev {latest.number} rolled out {evidence.ago(latest.created)} ago"
    evidence_lines = []
    confidence = 0.85
    if errors:
        top = errors[0]
        if _read_before(evidence, latest.created) or rate_rose:
            before = " (none before)"
        else:
            before = " (nothing read from before it)"
        cause = f"{head}: {counted(top)}{before}"
        evidence_lines += [counted(t) for t in errors[1:3]]
    else:
        cause = head
    if rate is not None and rate_rose:
        cause += f"; error rate {show(rate.now, rate.unit)}, was {show(rate.baseline, rate.unit)}"
        confidence = 0.95
    remedy = Remedy("rollback", f"errors began after rev {latest.number} rolled out")
    return Finding("errors-since-rollout", cause, confidence, tuple(evidence_lines), (remedy,))


def _read_before(evidence: Evidence, when: object) -> bool:
    """Whether the logs read reach back before `when` (pods older than the rollout)."""
    return evidence.logs_since is not None and evidence.logs_since < when  # type: ignore[operator]


_POOL = linear(
    r"(?i)pool (?:is )?exhausted|too many (?:clients|connections)|remaining connection slots|"
    r"(?:acquir|obtain|get)\w* (?:a )?connection|connection pool timeout|QueuePool limit|"
    r"pool timed out|no available connection",
    capture=False,
)


_POOL_SAYS_SO = linear(r"(?i)pool|too many clients|connection slots", capture=False)


def connection_pool(evidence: Evidence) -> Finding | None:
    """The database connection pool is exhausted (`too many clients`, timeouts acquiring a
    connection): requests queue for a connection and time out."""
    found = matching(evidence, _POOL)
    if not found:
        return None
    found.sort(key=lambda t: (not _POOL_SAYS_SO.search(t.template), -t.count))
    cause = f"Database connection pool exhausted: {counted(found[0])}"
    cause += _since(evidence) or _before(evidence)
    return Finding(
        "connection-pool",
        cause,
        0.85,
        tuple(counted(t) for t in found[1:3]),
        (Remedy("restart", "frees connections held by stuck or leaking pods"),),
    )


_RATE_LIMITED = linear(
    r"(?i)\b429\b|too many requests|rate[- ]?limit(?:ed|ing)?\b|retry-after|quota exceeded",
    capture=False,
)


def upstream_rate_limited(evidence: Evidence) -> Finding | None:
    """An upstream answers 429 Too Many Requests: our calls are throttled."""
    found = matching(evidence, _RATE_LIMITED)
    if not found:
        return None
    found.sort(key=lambda t: ("429" not in t.template, -t.count))
    cause = f"Upstream rate limiting: {counted(found[0])}" + (_since(evidence) or _before(evidence))
    return Finding(
        "upstream-rate-limited", cause, 0.8, tuple(counted(t) for t in found[1:3]),
        _rollback(evidence, "the throttling"),
    )  # fmt: skip


_DEPENDENCY = linear(
    r"(?i)\b(?:502|503|504)\b|circuit (?:breaker )?(?:is )?open|connection refused|"
    r"no healthy upstream|upstream connect error|service unavailable|bad gateway",
    capture=False,
)


def dependency_failing(evidence: Evidence) -> Finding | None:
    """A dependency fails (502/503/504, refused connections, an open circuit breaker): the
    errors are someone else's, and a cascade starts here."""
    found = [t for t in matching(evidence, _DEPENDENCY, ("error", "warning"))]
    if not found:
        return None
    cause = f"Dependency failing: {counted(found[0])}" + (_since(evidence) or _before(evidence))
    return Finding(
        "dependency-failing", cause, 0.75, tuple(counted(t) for t in found[1:3]),
        _rollback(evidence, "the failing calls"),
    )  # fmt: skip


_SLOW_QUERY = linear(
    r"(?i)slow query|statement timeout|canceling statement|query took|lock wait timeout|"
    r"deadlock detected|duration: <dur> (?:ms )?statement",
    capture=False,
)


_STATEMENT = linear(r"(?i)\b(select|insert|update|delete)\b", capture=False)


def slow_queries(evidence: Evidence) -> Finding | None:
    """Database queries are slow or time out (slow-query log, statement timeouts, locks)."""
    found = matching(evidence, _SLOW_QUERY)
    if not found:
        return None
    # The line that names the query says more than the timeout it caused.
    found.sort(key=lambda t: (not _STATEMENT.search(t.template), -t.count))
    cause = f"Slow database queries: {counted(found[0])}"
    latency = evidence.signals.get("p95-latency")
    if latency is not None and latency.raised:
        cause += f"; p95 latency {show(latency.now, latency.unit)}"
    cause += _since(evidence) or _before(evidence)
    return Finding(
        "slow-queries", cause, 0.75, tuple(counted(t) for t in found[1:3]),
        _rollback(evidence, "the slow queries"),
    )  # fmt: skip


def probe_failing(evidence: Evidence) -> Finding | None:
    """Pods fail their readiness or liveness probe: they are taken out of the service (or
    restarted), and with none ready the service answers 503."""
    failing = [
        e
        for e in evidence.events
        if e.get("reason") == "Unhealthy" and (e.get("involvedObject") or {}).get("kind") == "Pod"
    ]
    if not failing:
        return None
    pods = {str((e.get("involvedObject") or {}).get("name")) for e in failing}
    count = sum(int(e.get("count") or 1) for e in failing)
    message = str(failing[-1].get("message") or "")
    kind = "Liveness" if message.startswith("Liveness") else "Readiness"
    detail = message.split(": ", 1)[-1].replace("`", "'")
    if len(detail) > 90:
        detail = detail[:89] + "…"
    cause = f"{kind} probe failing on {len(pods)}/{len(evidence.pods)} pods (×{count}): `{detail}`"
    if evidence.pods and evidence.ready == 0:
        cause += "; no pod is ready, so the service has no endpoints"
    cause += _since(evidence)
    return Finding(
        "probe-failing", cause, 0.8, (), (
            *_rollback(evidence, "the failing probes"),
            Remedy("restart", "replaces pods stuck in a bad state"),
        ),
    )  # fmt: skip


def _hpa_cpu(hpa: dict[str, object]) -> tuple[int, int] | None:
    """(current, target) CPU utilisation of an HPA, in % of requests."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    target = current = None
    for m in spec.get("metrics") or []:  # type: ignore[attr-defined]
        resource = m.get("resource") or {}
        if resource.get("name") == "cpu":
            target = (resource.get("target") or {}).get("averageUtilization")
    for m in status.get("currentMetrics") or []:  # type: ignore[attr-defined]
        resource = m.get("resource") or {}
        if resource.get("name") == "cpu":
            current = (resource.get("current") or {}).get("averageUtilization")
    if target is None or current is None:
        return None
    return int(current), int(target)


def autoscaler_maxed(evidence: Evidence) -> Finding | None:
    """The autoscaler is pinned at its maximum with CPU above its target: more load than the
    deployment may scale to."""
    hpa = evidence.hpa()
    if hpa is None:
        return None
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    current, most = int(status.get("currentReplicas") or 0), int(spec.get("maxReplicas") or 0)
    if not most or current < most:
        return None
    cpu = _hpa_cpu(hpa)
    name = hpa["metadata"]["name"]
    cause = f"HPA `{name}` pinned at its max ({current}/{most} replicas)"
    if cpu is not None:
        if cpu[0] <= cpu[1]:
            return None
        cause += f" with CPU at {cpu[0]} % of requests (target {cpu[1]} %)"
    cause += "; raise its maxReplicas, or find what costs more CPU"
    return Finding("autoscaler-maxed", cause, 0.8)


def cpu_saturated(evidence: Evidence) -> Finding | None:
    """Containers at their CPU limit are throttled: requests queue and latency rises."""
    rows = [u for u in evidence.usage or [] if u.cpu_limit]
    hot = [u for u in rows if u.cpu / u.cpu_limit >= CPU_SATURATED]
    if not hot or len(hot) * 2 < len(rows):
        return None
    share = max(u.cpu / u.cpu_limit for u in hot)
    limit = hot[0].cpu_limit
    cause = f"CPU at {share:.0%} of its {_cpu(limit)} limit on {len(hot)}/{len(rows)} pods "
    cause = cause.replace("%", " %") + "(throttled)"
    latency = evidence.signals.get("p95-latency")
    if latency is not None and latency.raised:
        cause += (
            f"; p95 latency {show(latency.now, latency.unit)}, was "
            f"{show(latency.baseline, latency.unit)}"
        )
    remedies = [Remedy("scale", "more pods share the load")]
    remedies += _rollback(evidence, "the CPU rise")
    return Finding("cpu-saturated", cause + _since(evidence), 0.7, (), tuple(remedies))


def memory_pressure(evidence: Evidence) -> Finding | None:
    """Memory close to its limit without an OOM kill yet: the next growth is a kill."""
    if any(p.oom_killed for p in evidence.pods):
        return None
    rows = [u for u in evidence.usage or [] if u.mem_limit]
    high = [u for u in rows if u.memory / u.mem_limit >= MEMORY_PRESSURE]
    if not high:
        return None
    top = max(high, key=lambda u: u.memory / u.mem_limit)
    share = f"{top.memory / top.mem_limit:.0%}".replace("%", " %")
    cause = (
        f"Memory at {share} of its {_mem(top.mem_limit)} limit on {len(high)}/{len(rows)} pods "
        "(no OOM kill yet)"
    )
    return Finding(
        "memory-pressure", cause, 0.65, (),
        (Remedy("restart", "resets memory and buys time; it does not fix the growth"),),
    )  # fmt: skip


def error_rate_raised(evidence: Evidence) -> Finding | None:
    """The error rate is raised, with no more specific cause found: when it began, and the
    most frequent error line."""
    rate = evidence.signals.get("error-rate")
    if rate is None or rate.began is None:
        return None
    cause = (
        f"Error rate {show(rate.now, rate.unit)} since {evidence.ago(rate.began)} ago "
        f"(was {show(rate.baseline, rate.unit)})"
    )
    errors = [t for t in evidence.templates or [] if t.level == "error"]
    if errors:
        cause += f": {counted(errors[0])}"
    return Finding("error-rate", cause + _before(evidence), 0.55)


def latency_raised(evidence: Evidence) -> Finding | None:
    """Latency is raised, with no more specific cause found."""
    latency = evidence.signals.get("p95-latency")
    if latency is None or latency.began is None:
        return None
    cause = (
        f"p95 latency {show(latency.now, latency.unit)} since {evidence.ago(latency.began)} ago "
        f"(was {show(latency.baseline, latency.unit)})"
    )
    return Finding("latency", cause + _before(evidence), 0.5)


def pods_not_ready(evidence: Evidence) -> Finding | None:
    """Pods not ready, for no reason another rule names."""
    waiting = [p for p in evidence.pods if not p.row.is_ready]
    if not waiting:
        return None
    reasons = sorted({p.row.reason for p in waiting if p.row.reason != "-"})
    cause = f"{len(waiting)}/{len(evidence.pods)} pods not ready" + (
        f" ({', '.join(reasons)[:100]})" if reasons else ""
    )
    return Finding("pods-not-ready", cause, 0.45)


def log_errors(evidence: Evidence) -> Finding | None:
    """The most frequent error in the logs, when nothing more specific explains it."""
    errors = [t for t in evidence.templates or [] if t.level == "error" and t.count >= 10]
    if not errors:
        return None
    top = errors[0]
    cause = f"Most frequent error in the logs: {counted(top)} in {len(top.sources)} pod(s)"
    return Finding("log-errors", cause + _before(evidence), 0.4)


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
