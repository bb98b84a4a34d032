"""The Kubernetes diagnostics against the Kubernetes API double (bot/sandbox/doubles) and its
`orion-prod` scenario, with every served object validated in strict mode (its `on_serve` hook)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.actions.base import Context
from bot.diagnostics.actions import default_actions
from bot.gateways.kubernetes import KubeGateway
from bot.incident import Incident, Severity
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    ManualClock,
    Timing,
    orion_prod,
)
from tests.diagnostics.conftest import COMMANDER, FrozenClock, make_policy
from tests.harness import eventually
from tests.kube import kube_gateway
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator

NOW = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
ACTIONS = {a.name: a for a in default_actions()}


@pytest.fixture
def double(validator: SchemaValidator) -> Iterator[KubernetesDouble]:
    cluster = Cluster(ManualClock(NOW), timing=Timing(rollout_step=0.02, pod_ready=0.02))
    orion_prod(cluster)
    with KubernetesDouble(cluster, on_serve=validator) as server:
        yield server


@pytest.fixture
async def gateway(double: KubernetesDouble) -> AsyncIterator[KubeGateway]:
    async with kube_gateway(double, timeout_s=1.0) as gateway:
        yield gateway


def context(gateway: KubeGateway, started: datetime | None = NOW) -> Context:
    return Context(
        COMMANDER, make_policy(), FrozenClock(NOW), lambda _: gateway, None, None, None,  # type: ignore[arg-type]
        incident_started=started, permitted=frozenset(ACTIONS), part_timeout_s=3.0,
    )  # fmt: skip


async def run(gateway: KubeGateway, name: str, text: str, **kw: Any) -> Any:
    action = ACTIONS[name]
    ctx = context(gateway, **kw)
    params = action.parse(text)
    findings = await action.execute(params, ctx, action.scopes(params, ctx))
    return action.render(params, findings, ctx)


def everything(result: Any) -> str:
    return "\n".join([result.title, *result.headline, *(s.text for s in result.sections)])


async def test_pods_sees_oomkilled_restarts(gateway: KubeGateway) -> None:
    result = await run(gateway, "pods", "task-service")
    assert result.headline == ["3/3 pods ready · 3 pods OOMKilled in the last 30 min"]
    assert everything(result).count("OOMKilled (137)") == 3


async def test_describe_a_pod_of_the_scenario(gateway: KubeGateway) -> None:
    pods = await gateway.list_pods("orion-prod", "app=task-service")
    result = await run(gateway, "describe", pods[0]["metadata"]["name"])
    text = everything(result)
    assert "last terminated: OOMKilled (exit 137)" in text and "BackOff" in text
    assert "PodScheduled" in text


async def test_logs_group_the_checkout_500s_with_real_first_and_last_seen(
    gateway: KubeGateway,
) -> None:
    result = await run(gateway, "logs", "checkout --since 1h")
    patterns = result.sections[0].text
    assert result.sections[0].title == "Error patterns"
    assert "×120" in patterns
    assert 'ERROR "POST /api/checkout" 500 <dur> error="payment provider: unexpected field' in (
        patterns
    )
    assert "2026-01-15T08:" in patterns  # times from the API's timestamps, not line numbers


async def test_previous_logs_of_a_crashed_container(gateway: KubeGateway) -> None:
    pods = await gateway.list_pods("orion-prod", "app=task-service")
    result = await run(gateway, "logs", f"{pods[0]['metadata']['name']} --previous --since 1d")
    assert "heap usage 97% of limit" in everything(result)


async def test_events_readiness_failures_first(gateway: KubeGateway) -> None:
    result = await run(gateway, "events", "")
    first = result.sections[0].text.splitlines()[1]
    assert first.startswith("Warning") and "Unhealthy" in first


async def test_events_headline_counts_warnings_and_the_rest_alike(gateway: KubeGateway) -> None:
    """The sandbox's headline read "733 warnings · 65 events": repeats beside event objects,
    more warnings than events. Both now count as the table's COUNT column does."""
    result = await run(gateway, "events", "")
    rows = [line.split() for line in result.sections[0].text.splitlines()[1:]]
    counts = {kind: sum(int(r[3].lstrip("×")) for r in rows if r[0] == kind)
              for kind in ("Warning", "Normal")}  # fmt: skip
    assert result.headline == [f"{counts['Warning']} warnings · {counts['Normal']} normal events"]


async def test_top_flags_memory_near_limit(gateway: KubeGateway) -> None:
    result = await run(gateway, "top", "task-service")
    assert result.headline == ["3 containers above 80 % of a limit"]
    assert "memory 97% of limit" in everything(result)


async def test_rollout_history_calls_out_checkout_rev_3(gateway: KubeGateway) -> None:
    result = await run(gateway, "rollout-history", "checkout")
    assert result.headline == ["⚠️ rev 3 rolled out 22m before the incident"]
    assert "checkout:2.3.0" in everything(result)


async def test_hpa_search_pinned_at_max(gateway: KubeGateway) -> None:
    result = await run(gateway, "hpa", "search")
    assert result.headline == ["search pinned at max replicas"]
    assert "cpu 96%/70%" in everything(result)


async def test_endpoints_payments_not_ready(gateway: KubeGateway) -> None:
    result = await run(gateway, "endpoints", "payments")
    assert result.headline[:2] == [
        "0 ready · 2 not ready",
        "⚠️ No ready endpoints: the service sends traffic nowhere.",
    ]


async def test_diagnose_names_checkout_s_bad_rollout_and_task_service_s_oom_kills(
    gateway: KubeGateway,
) -> None:
    result = await run(gateway, "diagnose", "checkout")
    assert result.headline[0] == (
        'Errors since rev 3 rolled out 22m ago: `ERROR "POST /api/checkout" 500 1203ms '
        'error="payment provider: unexpected field \\"amount_minor\\" in v2 response"` ×120 '
        "(nothing read from before it)"
    )
    # The state line says what the first line did not (the rollout is said once).
    assert result.headline[-1] == "3/3 pods ready"
    result = await run(gateway, "diagnose", "task-service")
    assert result.headline[0] == (
        "OOMKilled on 3/3 pods, the last 1m ago (15 restarts between them); "
        "memory at 97 % of its 512Mi limit"
    )


async def test_unknown_deployment_close_match(gateway: KubeGateway) -> None:
    from bot.errors import NotFound

    with pytest.raises(NotFound, match="did you mean `task-service`"):
        await run(gateway, "pods", "task-svc")


async def test_double_faults_503_retried_then_partial_diagnose(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    double.faults.fail("list", r"/apis/metrics\.k8s\.io/", 503, times=None)
    result = await run(gateway, "diagnose", "task-service")
    assert any(f.startswith("top: Kubernetes answered 503") for f in result.failures)
    assert len(double.requests.find(path="/apis/metrics.k8s.io/")) >= 2  # retried once


@pytest.mark.slow
async def test_double_hang_is_a_client_timeout(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    from bot.errors import Unavailable

    double.faults.hang("list", r"/api/v1/namespaces/orion-prod/events", times=None)
    with pytest.raises(Unavailable, match=r"did not answer .* within 1 s"):
        await run(gateway, "events", "")
    # One retry layer (tenacity, 2 attempts): urllib3's own read retries are off.
    assert len(double.requests.find(path="/api/v1/namespaces/orion-prod/events")) == 2


async def test_through_the_service_with_audit(double, diag_store) -> None:
    from tests.diagnostics.conftest import make_rig

    rig = make_rig(double, diag_store)
    rig.service.clock = FrozenClock(NOW)
    incident = Incident(
        id="INC-900", number=900, title="checkout 500s", severity=Severity.P1,
        reporter=COMMANDER, created_at=NOW, channel_id="CINC900",
    )  # fmt: skip
    run_ = await rig.run(COMMANDER, "diagnose", "checkout", incident=incident)
    assert run_.outcome == "ok"
    assert (await rig.store.audit_log())[0]["target"] == "checkout in test/orion-prod"


async def test_a_repeat_diagnosis_reads_the_logs_without_waiting_for_the_pod_list(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    """The logs are the slowest answers to make and to read: a second diagnosis of the same
    deployment asks for the pods read last time at once, beside the lists, before the pod list
    has confirmed them. Shown with a pod list that fails: a first diagnosis then reads no log,
    a repeat one has asked for them all the same. Once the deployment is gone, the diagnosis
    says so and no read it started is left running."""
    from bot.diagnostics.actions.diagnose import Diagnose
    from bot.errors import NotFound

    action = Diagnose()  # its own memory of earlier reads

    async def diagnose(instance: Diagnose = action) -> Any:
        ctx = context(gateway)
        params = instance.parse("task-service")
        return await instance.execute(params, ctx, instance.scopes(params, ctx))

    def logs_asked() -> list[str]:
        return sorted(r.path for r in double.requests.find(verb="GET", path="/log$"))

    read = (await diagnose()).evidence.logs_from
    first = logs_asked()
    assert read and len(first) >= len(read)

    double.requests.clear()
    double.faults.fail("list", r"/namespaces/orion-prod/pods$", 503, times=None)
    fresh = await diagnose(Diagnose())
    assert not fresh.evidence.logs_from and logs_asked() == []  # nothing known: no log read

    partial = await diagnose()
    assert any(f.startswith("pods:") for f in partial.evidence.failures)
    await eventually(lambda: logs_asked() == first, what="the logs read last time, asked again")
    double.faults.clear()

    double.cluster.delete("apps/v1", "Deployment", "orion-prod", "task-service")
    with pytest.raises(NotFound):
        await diagnose()
    running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in running if "read_log" in repr(t.get_coro())]


async def test_a_first_diagnosis_with_watched_pods_asks_for_the_logs_before_any_answer(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    """With the namespace's pods kept by a watch (bot/gateways/pod_watch.py), even a first
    diagnosis knows which logs to read before anything has answered: shown with a deployment
    read that never answers, while the logs of task-service's crashing and newest pods are
    asked for all the same. Once answered, the diagnosis reads no pod list, names the same
    cause as one that lists, and reads no log twice."""
    from bot.diagnostics.actions.diagnose import Diagnose

    async def diagnose() -> Any:
        action = Diagnose()  # a fresh one: no memory of earlier reads
        ctx = context(gateway)
        params = action.parse("task-service")
        return await action.execute(params, ctx, action.scopes(params, ctx))

    def shown(diagnosis: Any) -> str:
        action = ACTIONS["diagnose"]
        return everything(action.render(action.parse("task-service"), diagnosis, context(gateway)))

    listed = await diagnose()
    watch = gateway.watch_pods("orion-prod")
    assert watch is not None
    await asyncio.wait_for(watch.until(lambda w: w.state == "current"), 10)

    double.requests.clear()
    double.faults.hang("get", r"/deployments/task-service$", times=None)
    pending = asyncio.create_task(diagnose())

    def asked() -> set[str]:
        return {r.path.split("/")[-2] for r in double.requests.find(verb="GET", path="/log$")}

    await eventually(
        lambda: asked() == set(listed.evidence.logs_from), what="the logs diagnose reads"
    )
    assert not pending.done()  # the deployment has not answered
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    double.faults.clear()

    double.requests.clear()
    kept = await diagnose()
    assert kept.first_line == listed.first_line
    assert shown(kept) == shown(listed)  # every line of the report, from the kept pods
    assert double.requests.find(verb="list", path=r"^/api/v1/namespaces/orion-prod/pods$") == []
    logs = [(r.path, r.query.get("previous")) for r in double.requests.find("GET", "/log$")]
    assert len(logs) == len(set(logs))
