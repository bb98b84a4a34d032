"""Each rule of the diagnosis, alone, on hand-made evidence: what it names, and that it stays
silent when what it looks for is not there. Then the table: ranking, extension, a failing rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.diagnostics import rules
from bot.diagnostics.evidence import Signal
from bot.diagnostics.rules import DEFAULT_RULES, Finding, Rule, findings
from tests.diagnostics.evidence_kit import (
    evidence,
    logs,
    pod,
    raised,
    revisions,
    usage,
)

CHECKOUT_ERROR = 'ERROR "POST /api/checkout" 500 812ms error="unexpected field \\"amount\\""'


def test_every_rule_in_the_table_is_named_documented_and_silent_on_a_healthy_deployment() -> None:
    healthy = evidence(
        revs=revisions(3 * 1440, 9 * 1440),
        lines=logs(*((m, "INFO GET / 200 12ms") for m in range(30))),
        usage=[usage("app-0", cpu=0.2, cpu_limit=1, memory=200, mem_limit=512)],
        signals={"error-rate": Signal("error-rate", "percent", 0.2, 0.2, 0.3, None)},
    )
    assert len({r.name for r in DEFAULT_RULES}) == len(DEFAULT_RULES)
    for rule in DEFAULT_RULES:
        assert rule.doc, rule.name
        assert rule.check(healthy) is None, rule.name


def test_image_pull() -> None:
    stuck = [pod(f"app-{i}", ready=False, waiting="ImagePullBackOff", image="reg/app:9", created=8)
             for i in range(2)]  # fmt: skip
    event = {
        "reason": "Failed",
        "message": 'Failed to pull image "reg/app:9": rpc error: not found',
    }
    found = rules.image_pull(evidence(pods=stuck, revs=revisions(8, 2000), events=[event]))
    assert found is not None and found.cause == (
        "Image `reg/app:9` cannot be pulled on 2/2 pods since rev 2 rolled out 8m ago: not found"
    )
    assert [r.action for r in found.remedies] == ["rollback"]


def test_oom_killed_with_memory_against_its_limit() -> None:
    killed = [pod("app-0", restarts=4, last="OOMKilled", exit_code=137), pod("app-1")]
    found = rules.oom_killed(
        evidence(pods=killed, usage=[usage("app-0", memory=502, mem_limit=512)])
    )
    assert found is not None
    assert found.cause == (
        "OOMKilled on 1/2 pods, the last 1m ago (4 restarts between them); "
        "memory at 98 % of its 512Mi limit"
    )
    assert "restart" in [r.action for r in found.remedies]
    assert rules.oom_killed(evidence()) is None


def test_a_liveness_kill_is_not_an_oom_kill() -> None:
    killed = [pod("app-0", restarts=4, last="Error", exit_code=137)]
    assert rules.oom_killed(evidence(pods=killed)) is None


def test_crash_loop_quotes_the_previous_container() -> None:
    crashing = [pod("app-0", ready=False, restarts=7, waiting="CrashLoopBackOff", last="Error",
                    exit_code=1, created=9)]  # fmt: skip
    e = evidence(pods=crashing, revs=revisions(9, 3000), lines=logs((0.6, "FATAL no DB_URL")))
    e.crash_lines = {
        "app-0": [
            "2026-11-22T11:59:20Z INFO start",
            "2026-11-22T11:59:21Z FATAL no DB_URL",
            "2026-11-22T11:59:21Z INFO bye",
        ]
    }
    found = rules.crash_loop(e)
    assert found is not None and found.cause == (
        "CrashLoopBackOff on 1/1 pods since rev 2 rolled out 9m ago (exit 1, 7 restarts): "
        "`FATAL no DB_URL`"
    )


def test_errors_since_the_rollout_with_prometheus_saying_none_before() -> None:
    e = evidence(
        revs=revisions(22, 5 * 1440),
        lines=logs(*((m, CHECKOUT_ERROR) for m in range(20))),
        signals={"error-rate": raised("error-rate", 21, 38.0, 0.3, "percent")},
    )
    found = rules.errors_since_rollout(e)
    assert found is not None and found.confidence == 0.95
    assert found.cause == (
        'Errors since rev 2 rolled out 22m ago: `ERROR "POST /api/checkout" 500 812ms '
        'error="unexpected field \\"amount\\""` ×20; error rate 38 %, was 0.3 %'
    )  # no "(none before)" on the line: no log read reaches back before rev 2
    assert [r.action for r in found.remedies] == ["rollback"]
    e.logs_since = e.now - timedelta(minutes=60)  # pods older than rev 2, none logged it
    assert cause(rules.errors_since_rollout(e)).endswith(
        "×20 (none before); error rate 38 %, was 0.3 %"
    )


def test_errors_since_the_rollout_from_logs_alone_says_what_it_could_not_see() -> None:
    e = evidence(revs=revisions(22, 5 * 1440), lines=logs(*((m, CHECKOUT_ERROR) for m in range(8))))
    found = rules.errors_since_rollout(e)
    assert found is not None and found.cause.endswith("×8 (nothing read from before it)")
    old_pods = evidence(revs=revisions(22, 5 * 1440), logs_since=60,
                        lines=logs(*((m, CHECKOUT_ERROR) for m in range(8))))  # fmt: skip
    assert cause(rules.errors_since_rollout(old_pods)).endswith("×8 (none before)")


def test_an_innocent_rollout_is_not_blamed() -> None:
    """Errors began 40 minutes ago; the release went out 12 minutes ago."""
    line = 'ERROR upstream "inventory" returned 503: service unavailable'
    e = evidence(
        revs=revisions(12, 8 * 1440),
        lines=logs(*((m, line) for m in range(10))),
        signals={"error-rate": raised("error-rate", 40, 24.0, 0.2, "percent")},
    )
    assert rules.errors_since_rollout(e) is None
    found = rules.dependency_failing(e)
    assert found is not None and found.cause.endswith(
        "; began 40m ago, before rev 2 rolled out 12m ago (not the rollout)"
    )
    assert found.remedies == ()  # no rollback for an innocent release
    # Errors in the logs from before the rollout clear it too, without Prometheus.
    e = evidence(revs=revisions(12, 8 * 1440), lines=logs(*((m, line) for m in range(0, 30, 2))))
    assert rules.errors_since_rollout(e) is None


def test_connection_pool() -> None:
    e = evidence(lines=logs(*((m, "WARN db: connection pool exhausted (20/20 in use)")
                               for m in range(5))))  # fmt: skip
    found = rules.connection_pool(e)
    assert found is not None
    assert found.cause == (
        "Database connection pool exhausted: `WARN db: connection pool exhausted (20/20 in use)` ×5"
    )
    # Each pod's own pool is full: more pods share the requests, so a scale comes first.
    assert [r.action for r in found.remedies] == ["scale", "restart"]
    e = evidence(lines=logs(*((m, "FATAL: sorry, too many clients already") for m in range(4))))
    found = rules.connection_pool(e)
    assert found is not None
    # The database's own limit: more pods would ask it for more connections; only a restart.
    assert [r.action for r in found.remedies] == ["restart"]
    assert rules.connection_pool(evidence(lines=logs((1, "ERROR boom")))) is None


def test_upstream_rate_limited() -> None:
    e = evidence(lines=logs(*((m, "WARN payments-api answered 429 Too Many Requests")
                               for m in range(6))))  # fmt: skip
    found = rules.upstream_rate_limited(e)
    assert found is not None and "payments-api answered 429" in found.cause


def test_dependency_failing() -> None:
    e = evidence(lines=logs(*((m, 'WARN circuit breaker open for "ledger"') for m in range(6))))
    found = rules.dependency_failing(e)
    assert found is not None and found.cause.startswith("Dependency failing: `WARN circuit breaker")


def test_slow_queries_prefer_the_line_naming_the_query() -> None:
    lines = logs(
        *((m, "ERROR canceling statement due to statement timeout") for m in range(8)),
        *((m, "WARN slow query (4100ms): SELECT * FROM orders WHERE id = 3") for m in range(5)),
    )
    found = rules.slow_queries(evidence(lines=lines))
    assert found is not None and "SELECT * FROM orders WHERE id = 3" in found.cause


def test_probe_failing() -> None:
    event = {
        "reason": "Unhealthy", "count": 30, "involvedObject": {"kind": "Pod", "name": "app-0"},
        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
    }  # fmt: skip
    found = rules.probe_failing(evidence(pods=[pod("app-0", ready=False)], events=[event]))
    assert found is not None and found.cause == (
        "Readiness probe failing on 1/1 pods (×30): `HTTP probe failed with statuscode: 503`; "
        "no pod is ready, so the service has no endpoints"
    )


def hpa(current: int, most: int, cpu: int, target: int = 70) -> dict[str, Any]:
    return {
        "metadata": {"name": "app"},
        "spec": {"scaleTargetRef": {"name": "app"}, "maxReplicas": most,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": target}}}]},
        "status": {"currentReplicas": current, "currentMetrics": [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": cpu}}}]},
    }  # fmt: skip


def test_autoscaler_maxed() -> None:
    found = rules.autoscaler_maxed(evidence(hpas=[hpa(10, 10, 96)]))
    assert found is not None and found.cause.startswith(
        "HPA `app` pinned at its max (10/10 replicas) with CPU at 96 % of requests (target 70 %)"
    )
    assert rules.autoscaler_maxed(evidence(hpas=[hpa(6, 10, 96)])) is None
    assert rules.autoscaler_maxed(evidence(hpas=[hpa(10, 10, 50)])) is None


def test_cpu_saturated_and_latency() -> None:
    hot = [usage(f"app-{i}", cpu=0.498, cpu_limit=0.5) for i in range(3)]
    e = evidence(
        usage=hot, signals={"p95-latency": raised("p95-latency", 25, 1.8, 0.12, "seconds")}
    )
    found = rules.cpu_saturated(e)
    assert found is not None and found.cause == (
        "CPU at 100 % of its 500m limit on 3/3 pods (throttled); p95 latency 1.8 s, was 120 ms"
    )
    assert "scale" in [r.action for r in found.remedies]
    assert cause(rules.latency_raised(e)) == "p95 latency 1.8 s since 25m ago (was 120 ms)"


def test_memory_pressure_only_without_oom_kills() -> None:
    full = [usage("app-0", memory=1000, mem_limit=1024)]
    found = rules.memory_pressure(evidence(usage=full))
    assert found is not None
    assert found.cause == "Memory at 98 % of its 1Gi limit on 1/1 pods (no OOM kill yet)"
    killed = [pod("app-0", restarts=1, last="OOMKilled", exit_code=137)]
    assert rules.memory_pressure(evidence(pods=killed, usage=full)) is None


def test_error_rate_pods_not_ready_and_log_errors_are_the_fallbacks() -> None:
    e = evidence(
        pods=[pod("app-0", ready=False, reason="probe failed ×2"), pod("app-1")],
        lines=logs(*((m, "ERROR ledger: unknown account") for m in range(12))),
        signals={"error-rate": raised("error-rate", 15, 9.0, 0.1, "percent")},
    )
    assert cause(rules.error_rate_raised(e)) == (
        "Error rate 9.0 % since 15m ago (was 0.1 %): `ERROR ledger: unknown account` ×12"
    )
    assert cause(rules.pods_not_ready(e)) == "1/2 pods not ready (probe failed ×2)"
    assert cause(rules.log_errors(e)) == (
        "Most frequent error in the logs: `ERROR ledger: unknown account` ×12 in 1 pod"
    )
    ranked = [f.rule for f in findings(e)]
    assert ranked == ["error-rate", "pods-not-ready", "log-errors"]


def test_findings_rank_by_confidence_then_by_the_table() -> None:
    killed = [pod("app-0", restarts=4, last="OOMKilled", exit_code=137)]
    e = evidence(
        pods=killed,
        lines=logs(*((m, "ERROR ledger: unknown account") for m in range(12))),
        usage=[usage("app-0", memory=500, mem_limit=512)],
    )
    assert [f.rule for f in findings(e)] == ["oom-killed", "log-errors"]


def test_a_team_adds_its_own_rule_and_a_failing_rule_is_named_not_fatal() -> None:
    def feature_flag(e) -> Finding | None:
        """The payments-v2 flag was turned on."""
        return Finding("feature-flag", "Flag payments-v2 turned on 5m ago", 0.97)

    def broken(e) -> Finding | None:
        raise KeyError("status")

    table = (*DEFAULT_RULES, Rule("broken", broken), Rule("feature-flag", feature_flag))
    e = evidence(lines=logs(*((m, "ERROR ledger: unknown account") for m in range(12))))
    ranked = findings(e, table)
    assert ranked[0].cause == "Flag payments-v2 turned on 5m ago"
    assert "rule broken: internal error (in the bot's log)" in e.failures


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_no_rule_breaks_on_empty_evidence(rule: Rule) -> None:
    from bot.diagnostics.evidence import Evidence
    from tests.diagnostics.evidence_kit import NOW

    assert rule.check(Evidence("app", "ns", NOW)) is None


def cause(finding: Finding | None) -> str:
    assert finding is not None
    return finding.cause
