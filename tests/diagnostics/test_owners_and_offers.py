"""Against the Kubernetes double (tests/diagnostics/scenario.py): `events` of a deployment are
those of everything it owns; `pod/NAME` and `deployment/NAME` are accepted wherever Fireline
prints them; the newest log lines are the ones shown, and one run attaches one file; the
diagnosis offers only the remediations that can be done, each with why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.actions.output import fit
from bot.blockkit import REMEDIATION_REQUEST
from bot.errors import UsageError
from bot.policy.remediation import RemediationPolicy, RemediationRule
from bot.sandbox.doubles.kubernetes import KubernetesDouble, add_logs
from bot.sandbox.doubles.kubernetes.corpus import SCENARIOS, build_corpus
from bot.store.store import Store
from tests.diagnostics.conftest import RESPONDER, VIEWER, Rig, make_policy, make_rig
from tests.diagnostics.scenario import NOW, NS, new_cluster
from tests.diagnostics.test_kubernetes import incident, text_of


async def test_the_events_of_a_deployment_are_those_of_what_it_owns(rig: Rig) -> None:
    run = await rig.run(VIEWER, "events", "task-service")
    text = text_of(run)
    assert run.result.title == "Events of deployment `task-service` and its ReplicaSets and pods"
    # The pods' BackOff and probe failures, and the deployment's own scaling event.
    assert "Back-off restarting" in text and "Readiness probe failed" in text
    assert "Scaled up replica set" in text and "22 warnings" in run.result.headline[0]
    assert "orion-api" not in text
    same = await rig.run(VIEWER, "events", "deployment/task-service")
    assert text_of(same) == text


async def test_pod_slash_name_is_accepted_as_fireline_prints_it(rig: Rig) -> None:
    probing = rig.pods[1]
    run = await rig.run(VIEWER, "events", f"pod/{probing}")
    assert run.result.title == f"Events about `pod/{probing}`"
    assert "Readiness probe failed" in text_of(run) and "Back-off" not in text_of(run)
    described = await rig.run(VIEWER, "describe", f"pod/{rig.pods[0]}")
    assert "last terminated: OOMKilled (exit 137)" in text_of(described)
    logs = await rig.run(RESPONDER, "logs", f"pod/{rig.pods[0]} --previous --since 30m")
    assert "panic: boom" in text_of(logs)
    diagnosed = await rig.run(RESPONDER, "diagnose", "deployment/task-service")
    assert diagnosed.result.headline[0].startswith("OOMKilled on 2/5 pods")
    with pytest.raises(UsageError, match="must be a Kubernetes name"):
        rig.action("events").parse("pod/Not_A_Name")


async def test_a_pod_that_is_gone_shows_its_deployments_events(rig: Rig) -> None:
    gone = rig.pods[0].rsplit("-", 1)[0] + "-zzzzz"
    run = await rig.run(VIEWER, "events", f"pod/{gone}")
    assert run.result.headline[0] == (
        f"No events about `{gone}` (it may have been replaced); these are the events of "
        "deployment `task-service`, which it belonged to."
    )
    assert "Back-off restarting" in text_of(run)


async def test_the_last_lines_are_the_newest_and_one_run_attaches_one_file(rig: Rig) -> None:
    pod = rig.pods[2]
    lines = [f"INFO step {i:03d} " + "x" * 110 for i in range(120)]
    add_logs(rig.kube.cluster, NS, pod, lines)
    run = await rig.run(RESPONDER, "logs", f"{pod} --since 30m")
    tail = next(s for s in run.result.sections if s.title.startswith("Last "))
    shown = tail.text.splitlines()
    assert tail.title == f"Last {len(shown)} lines" and 10 < len(shown) <= 40
    assert "step 119" in shown[-1] and "step 118" in shown[-2]  # the newest end, in order
    fitted = fit(run.result, "logs")
    assert [f.filename for f in fitted.files] == [f"logs-{pod}.txt"]
    assert "step 000" in str(fitted.files[0].content)  # everything read is in the one file


async def test_the_diagnosis_offers_what_can_be_done_with_why(kube_api, diag_store) -> None:
    rule = RemediationRule(request_roles=("responder",), namespaces=("orion-*",))
    policy = make_policy(
        remediation=RemediationPolicy(enabled=True, actions={"rollback": rule, "restart": rule})
    )
    rig = make_rig(kube_api, diag_store, policy)
    run = await rig.run(RESPONDER, "diagnose", "task-service", incident=incident())
    await rig.service.post(run, "CINC7")
    blocks = rig.slack.posts[-1]["blocks"]
    offered = [b for b in blocks if b.get("accessory", {}).get("action_id") == REMEDIATION_REQUEST]
    values = [json.loads(b["accessory"]["value"]) for b in offered]
    # Each names what it was offered on (rev 3 running), so a click after that changed is
    # answered as stale.
    seen = {"revision": 3, "at": int(NOW.timestamp())}
    assert values == [
        {"action": "rollback", "params": {"deployment": "task-service", "namespace": NS},
         "incident": "INC-7", "offered": seen},
        {"action": "restart", "params": {"deployment": "task-service", "namespace": NS},
         "incident": "INC-7", "offered": seen},
    ]  # fmt: skip
    reasons = [b["text"]["text"] for b in offered]
    assert reasons[0] == (
        "*Roll back task-service* — the memory growth began after rev 3 rolled out 12m ago; "
        "back to rev 2 (registry.example.com/task:41)"
    )
    assert reasons[1].startswith("*Restart task-service* — buys time before the next OOM kill")


async def test_the_diagnosis_offers_nothing_it_cannot_do(rig: Rig) -> None:
    """No remediation in this policy: no buttons, and the report says why."""
    run = await rig.run(RESPONDER, "diagnose", "task-service", incident=incident())
    await rig.service.post(run, "CINC7")
    blocks = json.dumps(rig.slack.posts[-1]["blocks"], ensure_ascii=False)
    assert REMEDIATION_REQUEST not in blocks
    assert "`rollback` — remediation is off in the policy" in blocks


@pytest.fixture
def corpus_double() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(build_corpus(new_cluster())) as double:
        yield double


async def test_a_full_connection_pool_is_offered_a_scale_first(
    corpus_double: KubernetesDouble, diag_store: Store
) -> None:
    """orders-api's pods each hold a full pool of 20 with requests waiting (the sandbox's story:
    a third pod fixes it): the diagnosis offers a scale, with why, before a restart."""
    rule = RemediationRule(request_roles=("responder",), namespaces=("*",))
    policy = make_policy(
        remediation=RemediationPolicy(enabled=True, actions={"scale": rule, "restart": rule})
    )
    rig = make_rig(corpus_double, diag_store, policy)
    [scenario] = [s for s in SCENARIOS if s.name == "connection-pool"]
    run = await rig.run(RESPONDER, "diagnose", f"{scenario.deployment} -n {scenario.namespace}")
    assert [(v.action, v.params.get("replicas")) for v in run.findings.offers] == [
        ("scale", 4), ("restart", None)
    ]  # fmt: skip
    assert run.findings.offers[0].reason.startswith(
        "each pod's pool is full: more pods, more connections to share; runs 2 of the policy's"
    )


def test_a_deployments_pods_are_told_by_their_replica_sets_name() -> None:
    """What diagnose reads logs of before the deployment has answered (watched pods)."""
    from bot.diagnostics.log_reads import made_by

    def pod(name: str, hash_: str, owner: object, kind: str = "ReplicaSet") -> dict[str, Any]:
        refs = [{"kind": kind, "name": owner, "controller": True}] if owner else []
        return {"metadata": {"name": name, "labels": {"pod-template-hash": hash_},
                             "ownerReferences": refs}}  # fmt: skip

    pods: list[dict[str, Any]] = [
        pod("checkout-7d9f-a", "7d9f", "checkout-7d9f"),
        pod("checkout-v2-7d9f-b", "7d9f", "checkout-v2-7d9f"),  # a deployment named alike
        pod("checkout-7d9f-c", "7d9f", "checkout-7d9f", kind="StatefulSet"),
        pod("checkout-bare", "7d9f", None),
        {"metadata": {"name": "odd", "labels": "x", "ownerReferences": ["?"]}},
        {"metadata": {"name": "odder", "labels": {}, "ownerReferences": ["?"]}},
    ]
    assert [p["metadata"]["name"] for p in made_by("checkout", pods)] == ["checkout-7d9f-a"]
