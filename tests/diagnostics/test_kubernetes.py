"""Kubernetes diagnostics through the real `kubernetes` client over HTTP on 127.0.0.1, against
the Kubernetes double serving the exact fixture of `tests/diagnostics/scenario.py`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.gateways.kubernetes import KubeGateway
from bot.incident import Incident, Severity
from bot.sandbox.doubles.kubernetes import KubernetesDouble
from tests.diagnostics.conftest import (
    ADMIN,
    COMMANDER,
    RESPONDER,
    VIEWER,
    Rig,
    make_policy,
    make_rig,
)
from tests.diagnostics.scenario import NOW, NS, new_cluster, task_service_incident


def incident(prefix_id: str = "INC-7") -> Incident:
    return Incident(
        id=prefix_id, number=7, title="tasks failing", severity=Severity.P1, reporter=RESPONDER,
        created_at=NOW, channel_id="CINC7",
    )  # fmt: skip


def text_of(run) -> str:
    assert run.result is not None, run.message
    parts = [run.result.title, *run.result.headline]
    parts += [f"{s.title}\n{s.text}" for s in run.result.sections]
    return "\n".join(parts)


async def test_pods_reports_readiness_ooms_restarts_and_probes(rig: Rig) -> None:
    run = await rig.run(VIEWER, "pods", "task-service")
    text = text_of(run)
    assert run.outcome == "ok"
    assert "3/5 pods ready" in text and "2 pods OOMKilled in the last 30 min" in text
    assert "OOMKilled (137)" in text and "probe failed ×7" in text
    assert rig.pods[0] in text and "node-1" in text
    assert "orion-api" not in text  # only the deployment's pods


async def test_pods_by_label_selector(rig: Rig) -> None:
    run = await rig.run(VIEWER, "pods", "app=orion-api")
    assert "1/1 pods ready" in text_of(run)


async def test_unknown_deployment_offers_close_matches(rig: Rig) -> None:
    run = await rig.run(VIEWER, "pods", "task-svc")
    assert run.outcome == "rejected"
    assert run.message == ("No deployment `task-svc` in `orion-prod`; did you mean `task-service`?")


async def test_unknown_deployment_like_none_lists_what_the_namespace_has(rig: Rig) -> None:
    """Nothing close to suggest: the answer says what to type instead, the names there are."""
    run = await rig.run(RESPONDER, "diagnose", "nosuchthing")
    assert run.outcome == "rejected"
    assert run.message == (
        "No deployment `nosuchthing` in `orion-prod`. It has `orion-api`, `task-service`."
    )


async def test_describe_shows_conditions_containers_and_events(rig: Rig) -> None:
    text = text_of(await rig.run(VIEWER, "describe", rig.pods[0]))
    assert "Conditions" in text and "Ready" in text
    assert "last terminated: OOMKilled (exit 137)" in text
    # Two BackOff events about the pod fold into one line with the summed count.
    assert "×15" in text and text.count("Back-off restarting") == 1


async def test_describe_unknown_pod(rig: Rig) -> None:
    run = await rig.run(VIEWER, "describe", rig.pods[0][:-1])
    assert "did you mean" in (run.message or "")


async def test_events_warnings_first_newest_first_folded(rig: Rig) -> None:
    run = await rig.run(VIEWER, "events")
    section = run.result.sections[0].text
    lines = section.splitlines()[1:]
    assert lines[0].startswith("Warning")
    assert lines[-1].startswith("Normal")
    assert "22 warnings" in run.result.headline[0]


async def test_events_about_one_object(rig: Rig) -> None:
    run = await rig.run(VIEWER, "events", rig.pods[1])
    assert "Readiness probe failed" in text_of(run) and "Back-off" not in text_of(run)


async def test_logs_group_errors_first_and_redact_secrets(rig: Rig) -> None:
    run = await rig.run(RESPONDER, "logs", "task-service --since 30m")
    text = text_of(run)
    assert run.result.sections[0].title == "Error patterns"
    patterns = run.result.sections[0].text
    assert "×20" in patterns and "db timeout after <dur> conn=<ip> req=<hex>" in patterns
    assert "2026-11-22T11:59:00Z" in patterns and "2026-11-22T11:59:19Z" in patterns
    for secret in ("hunter2", "s3cretpw", "abc.def.ghi", "AKIAABCDEFGHIJKLMNOP", "MIIEowIBAAK"):
        assert secret not in text
        assert all(secret not in str(f.content) for f in run.result.files)
    assert "[redacted]" in text


async def test_logs_previous_and_grep(rig: Rig) -> None:
    text = text_of(await rig.run(RESPONDER, "logs", f"{rig.pods[0]} --previous --since 30m"))
    assert "panic: boom" in text
    text = text_of(await rig.run(RESPONDER, "logs", "task-service --grep 'out of memory'"))
    assert "FATAL out of memory" in text and "db timeout" not in text


async def test_logs_bounded_in_bytes(rig: Rig) -> None:
    action = rig.action("logs")
    params = action.build({"target": rig.pods[0], "limit_bytes": 1024})
    run = await rig.service.run(action, params, user=RESPONDER, incident=None)
    assert "hit the 1 KiB bound" in text_of(run)


async def test_top_flags_containers_near_their_limit(rig: Rig) -> None:
    text = text_of(await rig.run(VIEWER, "top", "task-service"))
    assert "1 container above 80 % of a limit" in text
    assert "memory 98% of limit" in text


async def test_top_of_a_namespace(rig: Rig) -> None:
    run = await rig.run(VIEWER, "top", "kube-system")
    assert run.outcome == "ok" and "No metrics" in text_of(run)


async def test_rollout_history_calls_out_the_revision_before_the_incident(rig: Rig) -> None:
    started = incident()
    run = await rig.run(VIEWER, "rollout-history", "task-service", incident=started)
    text = text_of(run)
    assert "rev 3 rolled out 12m before the incident" in text
    assert "task:41" in text and "release 42: new cache" in text
    later = started.model_copy(update={"created_at": NOW - timedelta(minutes=20)})
    text = text_of(await rig.run(VIEWER, "rollout-history", "task-service", incident=later))
    assert "rev 2 rolled out" in text


async def test_hpa_pinned_at_max(rig: Rig) -> None:
    text = text_of(await rig.run(VIEWER, "hpa", "task-service"))
    assert "task-service pinned at max replicas" in text and "cpu 93%/70%" in text
    run = await rig.run(VIEWER, "hpa", "task-srv")
    assert "did you mean `task-service`" in run.message


async def test_endpoints_ready_and_not_ready(rig: Rig) -> None:
    text = text_of(await rig.run(VIEWER, "endpoints", "task-service"))
    assert "3 ready · 2 not ready" in text and "NOT READY" in text
    run = await rig.run(VIEWER, "endpoints", "task-servic")
    assert run.message == "No service `task-servic` in `orion-prod`; did you mean `task-service`?"


async def test_runs_are_audited_and_put_on_the_timeline(rig: Rig) -> None:
    inc = incident(f"INC-{id(rig) % 100000}")
    await rig.run(VIEWER, "pods", "task-service", incident=inc)
    await rig.run(VIEWER, "logs", "task-service", incident=inc)  # denied: viewer
    audit = await rig.store.audit_log()
    assert [a["action"] for a in audit] == ["logs", "pods"]
    assert audit[0]["outcome"] == "denied" and audit[1]["outcome"] == "ok"
    assert audit[1]["user"] == VIEWER and audit[1]["target"] == "task-service in test/orion-prod"
    assert int(audit[1]["duration_ms"]) >= 0 and audit[1]["incident"] == inc.id
    # The run that happened is on the timeline, with who ran it; the refused one is not.
    timeline = await rig.store.timeline(inc.id)
    assert [e.kind for e in timeline] == ["diagnostic"]
    assert timeline[0].text.startswith(f"<@{VIEWER}> ran `pods`")
    assert "3/5 pods ready" in timeline[0].text


async def test_kubernetes_down_is_a_clear_failure_after_bounded_retries(rig: Rig) -> None:
    rig.kube.faults.fail("list", f"/namespaces/{NS}/pods$", 503, times=None)
    run = await rig.run(VIEWER, "pods", "task-service")
    assert run.outcome == "failed" and "Kubernetes answered 503" in run.message
    assert len(rig.kube.requests.find("list", f"/namespaces/{NS}/pods$")) == 2  # attempts=2


async def test_forbidden_by_the_cluster_is_not_retried(rig: Rig) -> None:
    rig.kube.faults.fail("list", f"/namespaces/{NS}/events$", 403, times=None)
    run = await rig.run(VIEWER, "events")
    assert run.outcome == "failed" and "refused Fireline's credentials" in run.message
    assert len(rig.kube.requests.find("list", f"/namespaces/{NS}/events$")) == 1


@pytest.mark.slow
async def test_slow_kubernetes_times_out(kube_api, diag_store) -> None:
    rig = make_rig(kube_api, diag_store, timeout_s=0.3)
    kube_api.faults.delay("list", f"/namespaces/{NS}/pods$", 1.0)
    run = await rig.run(VIEWER, "pods", "task-service")
    assert run.outcome == "timeout" and "did not finish within 0.3 s" in run.message


@pytest.mark.parametrize("user", [RESPONDER, COMMANDER, ADMIN])
async def test_diagnose_first_line_says_what_matters(rig: Rig, user: str) -> None:
    run = await rig.run(user, "diagnose", "task-service", incident=incident())
    assert run.result.headline[0] == (
        "OOMKilled on 2/5 pods since rev 3 rolled out 12m ago, the last 10m ago "
        "(9 restarts between them); memory at 98 % of its 256Mi limit"
    )
    assert run.result.headline[1].startswith(
        "Also: Errors since rev 3 rolled out 12m ago: `ERROR db timeout after 119ms "
        "conn=10.1.2.19 req=4f9c2a000013` ×20 (nothing read from before it)"
    )
    # The state at a glance, without the rollout the lines above named already.
    assert run.result.headline[2] == (
        "3/5 pods ready · 2 pods OOMKilled in the last 30 min · 1 failing probe · "
        "1 container > 80 % of a limit · HPA task-service pinned at max"
    )
    # The findings do not restate the first line, nor quote the db timeout a second time
    # (the logs' most frequent error is the one the rollout's finding quotes).
    [findings] = [s.text for s in run.result.sections if s.title.startswith("Findings")]
    assert findings.startswith(
        "• The cause above (high confidence)\n"
        "• Errors since rev 3 rolled out 12m ago: `ERROR db timeout"
    )
    assert findings.count("`ERROR db timeout") == 1 and "OOMKilled on" not in findings
    assert run.outcome == "ok"


async def test_diagnose_partial_when_a_part_fails(rig: Rig) -> None:
    rig.kube.faults.fail("list", r"/apis/metrics\.k8s\.io/", 503, times=None)
    run = await rig.run(RESPONDER, "diagnose", "task-service")
    assert run.outcome == "partial"
    assert any(f.startswith("top: Kubernetes answered 503") for f in run.result.failures)
    assert run.result.headline[0].startswith("OOMKilled on 2/5 pods")
    assert "of its 256Mi limit" not in run.result.headline[0]  # usage was not read
    assert "3/5 pods ready" in run.result.headline[-1]


async def test_diagnose_unknown_deployment(rig: Rig) -> None:
    run = await rig.run(RESPONDER, "diagnose", "task-svc")
    assert run.message == "No deployment `task-svc` in `orion-prod`; did you mean `task-service`?"


async def test_an_unexpected_api_shape_is_answered_and_audited(diag_store) -> None:
    # Not schema-valid on purpose (the API answered something we do not expect), so this
    # double has no validating hook.
    cluster = new_cluster()
    task_service_incident(cluster)
    meta = {"name": "odd", "namespace": NS, "labels": {"app": "odd"}}
    cluster.upsert({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": "not-an-object"})
    with KubernetesDouble(cluster) as double:
        rig = make_rig(double, diag_store)
        run = await rig.run(VIEWER, "pods", "app=odd")
    assert run.outcome == "error" and "internal error" in run.message
    assert (await rig.store.audit_log())[0]["outcome"] == "error"


async def test_viewer_without_logs_gets_diagnose_parts_it_may_see_only(
    kube_api, diag_store
) -> None:
    from bot.policy.models import RoleGrant

    policy = make_policy()
    roles = dict(policy.roles)
    roles["viewer"] = RoleGrant(users=(VIEWER,), actions=("diagnose", "pods", "events"))
    rig = make_rig(kube_api, diag_store, policy.model_copy(update={"roles": roles}))
    run = await rig.run(VIEWER, "diagnose", "task-service")
    assert run.outcome == "partial"
    assert "top: not included (your roles do not allow `top`)" in run.result.failures
    assert not rig.kube.requests.find(path=r"/apis/metrics\.k8s\.io/")


async def test_cluster_is_chosen_by_name_and_checked(kube_api, diag_store) -> None:
    from bot.policy.models import Cluster

    clusters = {
        "test": Cluster(context="test", namespaces=("orion-*",), default_namespace="orion-prod"),
        "staging": Cluster(context="stg", namespaces=("stg-*",), default_namespace="stg-a"),
    }
    rig = make_rig(kube_api, diag_store, make_policy(clusters=clusters, default_cluster="test"))
    asked: list[str] = []
    gateway = rig.service.gateways.kube("test")

    def kube(name: str) -> KubeGateway:
        asked.append(name)
        return gateway

    rig.service.gateways.kube = kube  # spy on the cluster asked for
    run = await rig.run(VIEWER, "pods", "task-service --cluster staging")
    # The staging cluster's default namespace was read (it has no such deployment).
    assert asked == ["staging"] and run.message.startswith(
        "No deployment `task-service` in `stg-a`"
    )
    assert (await rig.store.audit_log())[0]["target"] == "task-service in staging/stg-a"
    run = await rig.run(VIEWER, "pods", "task-service --cluster stagin")
    assert run.message.startswith("No cluster `stagin`. Did you mean `staging`?")
    run = await rig.run(VIEWER, "pods", "task-service --cluster staging -n orion-prod")
    assert run.outcome == "denied" and "not open to Fireline in cluster `staging`" in run.message


@pytest.mark.slow
async def test_diagnose_reports_the_rest_when_one_part_is_slow(kube_api, diag_store) -> None:
    rig = make_rig(kube_api, diag_store, timeout_s=0.8)
    kube_api.faults.delay("list", r"/apis/metrics\.k8s\.io/", 2.0)
    run = await rig.run(RESPONDER, "diagnose", "task-service")
    assert run.outcome == "partial", run.message
    assert "top: no answer within 0.6 s" in run.result.failures
    assert run.result.headline[0].startswith("OOMKilled on 2/5 pods")


def test_a_long_or_empty_namespace_is_said_briefly() -> None:
    from bot.messages import no_such_object

    names = [f"svc-{i}" for i in range(9)]
    assert no_such_object("deployment", "zz", "ns", [], names) == (
        "No deployment `zz` in `ns`. It has `svc-0`, `svc-1`, `svc-2`, `svc-3`, `svc-4`, "
        "`svc-5` (and 3 more)."
    )
    assert no_such_object("deployment", "zz", "empty", [], []) == (
        "No deployment `zz` in `empty`: it has none."
    )


async def test_a_pod_being_deleted_is_shown_terminating(rig: Rig) -> None:
    """As kubectl's STATUS column says it: a pod in its grace period still runs, and is going."""
    from bot.sandbox.doubles.kubernetes.pods import terminate

    going = rig.pods[2]
    cluster = rig.kube.cluster
    with cluster.lock:
        terminate(cluster, cluster.require("v1", "Pod", "orion-prod", going), grace=30)
    text = text_of(await rig.run(VIEWER, "pods", "task-service"))
    [row] = [line for line in text.splitlines() if going in line]
    assert "Terminating" in row
    assert "Terminating" not in "".join(line for line in text.splitlines() if going not in line)
