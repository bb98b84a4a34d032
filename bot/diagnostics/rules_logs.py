"""Diagnosis rules read from logs and Prometheus: errors since a rollout, connection pools,
upstream rate limits and failing dependencies, slow queries, error rate and latency, error
lines (see bot/diagnostics/rules.py)."""

from __future__ import annotations

from bot.blockkit import counted as count_of
from bot.diagnostics.evidence import Evidence, show
from bot.diagnostics.findings import (
    QUOTE_MAX,
    Fact,
    Finding,
    Remedy,
    _before,
    _before_fact,
    _rollback,
    _since,
    _slower,
    counted,
    matching,
    quoted,
)
from bot.diagnostics.logpatterns import Template
from bot.runtime.patterns import linear

_WORST = linear(r"(?i)\b(fatal|panic|error|exception|caused by|cannot|failed)\b", capture=False)


def last_words(evidence: Evidence, pods: list[str]) -> str:
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
    at = latest.rolled_out_at if latest is not None else None
    if latest is None or at is None or evidence.began_before_rollout():
        return None
    rate = evidence.signals.get("error-rate")
    errors = [
        t
        for t in evidence.templates or []
        if t.level == "error" and t.count >= 5 and t.before == 0 and t.first_at
        and t.first_at >= at
    ]  # fmt: skip
    rate_rose = rate is not None and rate.began is not None and rate.began >= at
    if not errors and not rate_rose:
        return None
    head = f"Errors since rev {latest.number} rolled out {evidence.ago(at)} ago"
    evidence_lines = []
    facts: list[Fact] = []
    confidence = 0.85
    if errors:
        top = errors[0]
        # Said of the line only when the logs read reach back before the rollout: a rate that
        # rose with it says the errors were fewer before, which its own clause says, not that
        # this line was absent (the pods read may be newer than the rollout).
        if evidence.logs_reach_before(at):
            before = " (none before)"
        elif rate_rose:
            before = ""
        else:
            before = " (nothing read from before it)"
        cause = f"{head}: {counted(top)}{before}"
        facts.append(quoted(top))
        evidence_lines += [counted(t) for t in errors[1:3]]
    else:
        cause = head
    if rate is not None and rate_rose:
        rose = f"; error rate {show(rate.now, rate.unit)}, was {show(rate.baseline, rate.unit)}"
        cause += rose
        facts.append(Fact("error-rate", rose))
        confidence = 0.95
    remedy = Remedy("rollback", f"errors began after {evidence.rolled_out()}")
    return Finding(
        "errors-since-rollout", cause, confidence, tuple(evidence_lines), (remedy,),
        facts=tuple(facts),
    )  # fmt: skip


def _from_logs(
    key: str,
    label: str,
    confidence: float,
    found: list[Template],
    evidence: Evidence,
    remedies: tuple[Remedy, ...],
    *,
    also: tuple[Fact, ...] = (),
) -> Finding:
    """A finding named by its most telling template (`found[0]`), with when the trouble
    began, and the next two templates as its evidence."""
    since = _since(evidence)
    facts = (quoted(found[0]), *also, *(() if since else _before_fact(evidence)))
    cause = f"{label}: {counted(found[0])}" + "".join(f.text for f in also)
    cause += since or _before(evidence)
    evidence_lines = tuple(counted(t) for t in found[1:3])
    return Finding(key, cause, confidence, evidence_lines, remedies, facts=facts)


_POOL = linear(
    r"(?i)pool (?:is )?exhausted|too many (?:clients|connections)|remaining connection slots|"
    r"(?:acquir|obtain|get)\w* (?:a )?connection|connection pool timeout|QueuePool limit|"
    r"pool timed out|no available connection",
    capture=False,
)


_POOL_SAYS_SO = linear(r"(?i)pool|too many clients|connection slots", capture=False)
# The database's own limit, not the pod's pool: more pods would only ask it for more.
_DATABASE_FULL = linear(
    r"(?i)too many (?:clients|connections)|remaining connection slots", capture=False
)
_RESTART_FREES = Remedy("restart", "frees connections held by stuck or leaking pods")


def connection_pool(evidence: Evidence) -> Finding | None:
    """The database connection pool is exhausted (`too many clients`, timeouts acquiring a
    connection): requests queue for a connection and time out. Each pod's own pool full
    (requests waiting for one of its connections): more pods share the requests, so a scale
    is offered first. The database refusing connections (`too many clients`): a scale would
    ask it for more, so only a restart (freeing what stuck pods hold)."""
    found = matching(evidence, _POOL)
    if not found:
        return None
    found.sort(key=lambda t: (not _POOL_SAYS_SO.search(t.template), -t.count))
    if any(_DATABASE_FULL.search(t.template) for t in found):
        remedies: tuple[Remedy, ...] = (_RESTART_FREES,)
    else:
        more = Remedy("scale", "each pod's pool is full: more pods, more connections to share")
        remedies = (more, _RESTART_FREES)
    return _from_logs(
        "connection-pool", "Database connection pool exhausted", 0.85, found, evidence, remedies
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
    return _from_logs(
        "upstream-rate-limited", "Upstream rate limiting", 0.8, found, evidence,
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
    found = matching(evidence, _DEPENDENCY, ("error", "warning"))
    if not found:
        return None
    return _from_logs(
        "dependency-failing", "Dependency failing", 0.75, found, evidence,
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
    slow = _slower(evidence)
    return _from_logs(
        "slow-queries", "Slow database queries", 0.75, found, evidence,
        _rollback(evidence, "the slow queries"), also=(slow,) if slow.text else (),
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
    facts = [quoted(errors[0])] if errors else []
    facts += _before_fact(evidence)
    cause += "".join(f.text for f in facts)
    return Finding("error-rate", cause, 0.55, facts=tuple(facts), only="error-rate")


def latency_raised(evidence: Evidence) -> Finding | None:
    """Latency is raised, with no more specific cause found."""
    latency = evidence.signals.get("p95-latency")
    if latency is None or latency.began is None:
        return None
    cause = (
        f"p95 latency {show(latency.now, latency.unit)} since {evidence.ago(latency.began)} ago "
        f"(was {show(latency.baseline, latency.unit)})"
    )
    facts = _before_fact(evidence)
    return Finding(
        "latency", cause + "".join(f.text for f in facts), 0.5, facts=facts, only="p95-latency"
    )


def log_errors(evidence: Evidence) -> Finding | None:
    """The most frequent error in the logs, when nothing more specific explains it."""
    errors = [t for t in evidence.templates or [] if t.level == "error" and t.count >= 10]
    if not errors:
        return None
    top = errors[0]
    cause = (
        f"Most frequent error in the logs: {counted(top)} in {count_of(len(top.sources), 'pod')}"
    )
    facts = _before_fact(evidence)
    cause += "".join(f.text for f in facts)
    return Finding("log-errors", cause, 0.4, facts=facts, only=counted(top))
