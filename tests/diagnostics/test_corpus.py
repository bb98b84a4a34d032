"""`diagnose` on the scenario corpus (bot/sandbox/doubles/kubernetes/corpus.py): one incident per
seed playbook, a healthy control and a misleading rollout, through the Kubernetes double (every
served object schema-checked) and a Prometheus API stand-in. The first line must name the cause
a competent SRE would name."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.policy.models import Prometheus
from bot.sandbox.doubles.kubernetes import KubernetesDouble
from bot.sandbox.doubles.kubernetes.corpus import SCENARIOS, Scenario, build_corpus
from bot.settings import DEFAULT_PLAYBOOKS_DIR
from tests.conftest import MakeGateway
from tests.diagnostics.conftest import COMMANDER, Rig, make_policy, make_rig
from tests.diagnostics.prometheus_api import corpus_app, serve
from tests.diagnostics.scenario import new_cluster

PLAYBOOKS = sorted(path.stem for path in DEFAULT_PLAYBOOKS_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def corpus_double() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(build_corpus(new_cluster())) as double:
        yield double


@pytest.fixture
async def corpus_rig(
    corpus_double: KubernetesDouble, diag_store: Any, prometheus_gateway: MakeGateway
) -> AsyncIterator[Rig]:
    async with httpx.AsyncClient() as http, serve(corpus_app(SCENARIOS)) as url:
        policy = make_policy(prometheus=Prometheus(url=url))
        gateway = prometheus_gateway(url, timeout_s=2)
        yield make_rig(corpus_double, diag_store, policy, prometheus=gateway, http=http)


def test_the_corpus_covers_every_seed_playbook_and_the_controls() -> None:
    assert len(PLAYBOOKS) == 12
    assert sorted(s.playbook for s in SCENARIOS if s.playbook) == PLAYBOOKS
    assert {s.name for s in SCENARIOS if s.playbook is None} == {"healthy", "misleading-rollout"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_the_first_line_names_the_cause(corpus_rig: Rig, scenario: Scenario) -> None:
    run = await corpus_rig.run(
        COMMANDER, "diagnose", f"{scenario.deployment} -n {scenario.namespace}"
    )
    assert run.result is not None, run.message
    first = run.result.headline[0]
    assert scenario.named(first), f"{scenario.name}: {first!r} does not name: {scenario.cause}"
    assert not run.result.failures, run.result.failures


QUOTE = re.compile(r"`[^`]+` ×\d+")


async def diagnose(rig: Rig, name: str) -> Any:
    [scenario] = [s for s in SCENARIOS if s.name == name]
    return await rig.run(COMMANDER, "diagnose", f"{scenario.deployment} -n {scenario.namespace}")


def findings_of(run: Any) -> str:
    [section] = [s for s in run.result.sections if s.title == "Findings, most likely first"]
    return str(section.text)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_each_quoted_log_line_is_said_once(corpus_rig: Rig, scenario: Scenario) -> None:
    """Several rules quote the same error line (a failing dependency, the raised error rate's
    most frequent error, the logs' most frequent error): the top lines say it once, and the
    findings do not say again what the first line said."""
    run = await corpus_rig.run(
        COMMANDER, "diagnose", f"{scenario.deployment} -n {scenario.namespace}"
    )
    top = QUOTE.findall("\n".join(run.result.headline))
    assert len(top) == len(set(top)), top
    if run.result.sections[0].title == "Findings, most likely first":
        below = QUOTE.findall(findings_of(run))
        assert len(below) == len(set(below)), below
        assert not set(QUOTE.findall(run.result.headline[0])) & set(below)


async def test_the_failing_dependency_s_error_is_quoted_once(corpus_rig: Rig) -> None:
    run = await diagnose(corpus_rig, "cascade-failure")
    error = (
        '`ERROR "GET /dashboard" 502: upstream "task-service" returned 503: no healthy upstream` '
        "×90"
    )
    assert run.result.headline[:2] == [
        f"Dependency failing: {error}",
        "Also: Error rate 31 % since 15m ago (was 0.2 %)",
    ]
    assert findings_of(run) == (
        "• The cause above (medium confidence)\n"
        '   – `WARN circuit breaker open for "task-service" (50 failures in 10s)` ×90\n'
        "• Error rate 31 % since 15m ago (was 0.2 %) (low confidence)"
    )


async def test_an_error_two_findings_share_is_quoted_by_the_likelier(corpus_rig: Rig) -> None:
    run = await diagnose(corpus_rig, "connection-pool")
    timeout = '`ERROR "GET /orders" 504 timeout acquiring connection after 30000ms` ×40'
    assert run.result.headline[1] == (
        f"Also: Dependency failing: {timeout} · Error rate 9.0 % since 30m ago (was 0.1 %)"
    )
    assert findings_of(run) == (
        "• The cause above (high confidence)\n"
        f"   – {timeout}\n"
        "• Dependency failing (medium confidence)\n"
        "• Error rate 9.0 % since 30m ago (was 0.1 %) (low confidence)\n"
        "• p95 latency 30.0 s since 30m ago (was 80 ms) (low confidence)"
    )


async def test_the_healthy_control_says_what_it_checked_once(corpus_rig: Rig) -> None:
    """Nothing wrong: the first line says what was checked, and nothing below repeats it (with
    findings, the list closes the report instead)."""
    healthy = await diagnose(corpus_rig, "healthy")
    everything = "\n".join([*healthy.result.headline, *(s.text for s in healthy.result.sections)])
    assert healthy.result.headline[0].startswith("Nothing wrong found — checked: 3/3 pods ready")
    assert everything.count("0 warning events") == 1, everything
    # A query is named in words, as the findings name it ("p95 latency 900 ms since …").
    assert "p95 latency 120 ms" in healthy.result.headline[0] and "p95-latency" not in everything
    failing = await diagnose(corpus_rig, "high-error-rate")
    assert failing.result.sections[-1].text.startswith("_Checked: 3/3 pods ready")
    # The counts are of the lines read: the title says how many that is.
    titles = [s.title for s in failing.result.sections]
    assert (
        "Log patterns (3 pods, up to 200 lines each, the last 19m; "
        "all logged after rev 3 rolled out)" in titles
    )


async def test_logs_newer_than_the_rollout_say_so_and_count_no_before(corpus_rig: Rig) -> None:
    """misleading-rollout: the error rate rose 40m ago, the pods (and so their logs) are 12m
    old. The table must not say 0 errors before rev 2, which nothing read could show."""
    run = await diagnose(corpus_rig, "misleading-rollout")
    [section] = [s for s in run.result.sections if s.title.startswith("Log patterns")]
    assert section.title.endswith("; all logged after rev 2 rolled out)")
    assert "REV" not in section.text


async def test_a_sure_lone_cause_is_said_once(corpus_rig: Rig) -> None:
    """One finding, high confidence, no more evidence: no findings list below to say "the
    cause above", and the state line leaves out what the first line said (the rollout and the
    error rate), so each fact is read once."""
    run = await diagnose(corpus_rig, "high-error-rate")
    first, state = run.result.headline
    assert first.startswith("Errors since rev 3 rolled out 22m ago: ")
    assert first.endswith("error rate 38 %, was 0.3 %")
    assert state == "3/3 pods ready · p95 latency 120 ms"
    assert not [s for s in run.result.sections if s.title.startswith("Findings")]


async def test_log_patterns_say_when_as_ages_as_the_rest_does(corpus_rig: Rig) -> None:
    run = await diagnose(corpus_rig, "high-error-rate")
    [patterns] = [s.text for s in run.result.sections if s.title.startswith("Log patterns")]
    header, row = patterns.splitlines()[:2]
    assert header.split()[:4] == ["COUNT", "LEVEL", "FIRST", "LAST"]
    assert row.split()[:6] == ["×240", "ERROR", "19m", "ago", "0s", "ago"]
