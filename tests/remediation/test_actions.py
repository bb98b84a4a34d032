"""Each remediation's dry-run preview and its real result, against the Kubernetes double."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.errors import Conflict, UsageError
from bot.gateways.kubernetes import KubeGateway
from bot.policy.remediation import RemediationRule
from bot.remediation.actions.base import AnyRemediation, Plan, Preview
from bot.remediation.actions.delete_pod import DeletePod
from bot.remediation.actions.restart import Restart
from bot.remediation.actions.rollback import Rollback
from bot.remediation.actions.scale import Scale
from bot.sandbox.doubles.kubernetes import KubernetesDouble

NS = "orion-prod"
NOW = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
RULE = RemediationRule(namespaces=("orion-*",), min_replicas=1, max_replicas=8, max_step=4)


async def preview(action: AnyRemediation, text: str, kube: KubeGateway) -> Plan:
    return await action.preview(Preview(action.parse(text), kube, "test", NS, RULE, NOW))


async def until_done(action: AnyRemediation, kube: KubeGateway, plan: Plan) -> str:
    for _ in range(400):
        progress = await action.check(kube, plan)
        assert progress.status != "failed", progress.text
        if progress.status == "done":
            return progress.text
        await asyncio.sleep(0.02)
    raise AssertionError("never finished")


async def test_scale_preview_changes_nothing_then_applies_and_rolls_out(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    before = double.cluster.require("apps/v1", "Deployment", NS, "task-service")
    plan = await preview(Scale(), "task-service 6", gateway)
    assert [(c.what, c.before, c.after) for c in plan.changes] == [("replicas", "3", "6")]
    assert plan.state.startswith("3/3 ready · task-service:1.8.2")
    assert double.requests.find("patch", "deployments/task-service/scale")[0].query == {
        "dryRun": "All"
    }
    now = double.cluster.require("apps/v1", "Deployment", NS, "task-service")
    assert (
        now["spec"]["replicas"] == 3 and now["metadata"]["resourceVersion"] == plan.resource_version
    )
    assert before["metadata"]["resourceVersion"] == plan.resource_version
    assert not await Scale().applied(gateway, plan)
    await Scale().apply(gateway, plan)
    assert await Scale().applied(gateway, plan)
    assert await until_done(Scale(), gateway, plan) == "rolled out: 6/6 replicas ready"


async def test_scale_bounds_and_step_say_what_to_ask_for(gateway: KubeGateway) -> None:
    with pytest.raises(UsageError, match="outside what the policy allows \\(1–8\\)"):
        await preview(Scale(), "search 9", gateway)
    with pytest.raises(UsageError, match=r"at most 4 at a time\. Try `7` first"):
        await preview(Scale(), "task-service 8", gateway)
    with pytest.raises(UsageError, match="already runs 3 replicas"):
        await preview(Scale(), "task-service 3", gateway)


def test_a_count_or_revision_that_is_not_a_number_is_told_in_words() -> None:
    """`/incident scale checkout lots` answered pydantic's "`replicas` Input should be a valid
    integer, unable to parse string as an integer"."""
    with pytest.raises(UsageError) as err:
        Scale().parse("checkout lots")
    assert str(err.value).startswith("`replicas` must be a whole number, like 3 (not lots).")
    assert "Input should" not in str(err.value)
    with pytest.raises(UsageError, match="`--to-revision` must be 1 or more \\(not 0\\)"):
        Rollback().parse("checkout --to-revision 0")


async def test_restart_patches_restarted_at_like_kubectl_and_replaces_every_pod(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    old = {p["metadata"]["name"] for p in double.cluster.list("v1", "Pod", NS)
           if p["metadata"]["name"].startswith("task-service-")}  # fmt: skip
    plan = await preview(Restart(), "task-service", gateway)
    assert [(c.what, c.before, c.after) for c in plan.changes] == [
        ("pods", "3 pods running", "3 new pods, replaced one by one (rolling)"),
        ("restartedAt", "never", "2026-01-15T09:00:00Z"),
    ]
    await Restart().apply(gateway, plan)
    deployment = double.cluster.require("apps/v1", "Deployment", NS, "task-service")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "2026-01-15T09:00:00Z"
    await until_done(Restart(), gateway, plan)
    # Done as `kubectl rollout status` says it: the last old pod may still be Terminating.
    now = {p["metadata"]["name"] for p in double.cluster.list("v1", "Pod", NS)
           if p["metadata"]["name"].startswith("task-service-")
           and not p["metadata"].get("deletionTimestamp")}  # fmt: skip
    assert len(now) == 3 and not now & old


async def test_rollback_goes_back_to_the_previous_revisions_image(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    plan = await preview(Rollback(), "checkout", gateway)
    assert [(c.what, c.before, c.after) for c in plan.changes] == [
        ("image (checkout)", "checkout:2.4.0", "checkout:2.3.0"),
        ("revision", "3", "2's template (recorded as a new revision)"),
    ]
    await Rollback().apply(gateway, plan)
    await until_done(Rollback(), gateway, plan)
    deployment = double.cluster.require("apps/v1", "Deployment", NS, "checkout")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith("checkout:2.3.0")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


async def test_rollback_to_a_named_revision(gateway: KubeGateway) -> None:
    plan = await preview(Rollback(), "checkout --to-revision 1", gateway)
    assert plan.changes[0].after == "checkout:2.2.1"
    with pytest.raises(Exception, match="has no revision 7 \\(it has: 1, 2, 3\\)"):
        await preview(Rollback(), "checkout --to-revision 7", gateway)


async def test_delete_pod_is_replaced_by_a_ready_pod(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    pod = next(p for p in double.cluster.list("v1", "Pod", NS)
               if p["metadata"]["name"].startswith("task-service-"))  # fmt: skip
    name = pod["metadata"]["name"]
    plan = await preview(DeletePod(), name, gateway)
    assert plan.changes[0].after.startswith("deleted; ReplicaSet task-service-")
    assert double.cluster.get("v1", "Pod", NS, name) is not None  # the dry run kept it
    await DeletePod().apply(gateway, plan)
    assert await DeletePod().applied(gateway, plan)
    text = await until_done(DeletePod(), gateway, plan)
    assert text.startswith("replacement pod task-service-") and name not in text


async def test_apply_after_the_target_changed_is_a_conflict_and_changes_nothing(
    double: KubernetesDouble, gateway: KubeGateway
) -> None:
    plan = await preview(Scale(), "task-service 5", gateway)
    with double.cluster.lock:
        deployment = double.cluster.require("apps/v1", "Deployment", NS, "task-service")
        deployment["metadata"].setdefault("labels", {})["touched"] = "yes"
        double.cluster.update(deployment)
    with pytest.raises(Conflict):
        await Scale().apply(gateway, plan)
    assert (
        double.cluster.require("apps/v1", "Deployment", NS, "task-service")["spec"]["replicas"] == 3
    )
