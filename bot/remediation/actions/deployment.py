"""What the remediations of a deployment share: their parameters, how a deployment's state reads
on the card, and following its rollout as `kubectl rollout status` does."""

from __future__ import annotations

from abc import ABC
from typing import ClassVar, TypeVar

from bot.actions.base import KubeParams, ObjectName
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.remediation import messages
from bot.remediation.actions.base import IntentT, Kind, Plan, Progress, Remediation

REVISION = "deployment.kubernetes.io/revision"


class DeploymentParams(KubeParams):
    positional: ClassVar[tuple[str, ...]] = ("deployment",)

    deployment: ObjectName
    """The deployment to change."""


D = TypeVar("D", bound=DeploymentParams)


class DeploymentRemediation(Remediation[D, IntentT], ABC):
    """A remediation that changes a deployment and is done when its rollout is."""

    kind: ClassVar[Kind] = "deployment"

    def target(self, params: D) -> str:
        return params.deployment

    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        """One look at the rollout of the deployment the plan changed."""
        return rollout_progress(await kube.get_deployment(plan.namespace, plan.name))


def images(template: Obj) -> dict[str, str]:
    """Container name → image, in a pod template."""
    return {
        str(c.get("name")): str(c.get("image"))
        for c in template.get("spec", {}).get("containers") or []
    }


def short_image(image: str) -> str:
    return image.rsplit("/", 1)[-1]


def deployment_state(deployment: Obj) -> str:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    shown = ", ".join(short_image(i) for i in images(spec.get("template", {})).values())
    revision = deployment["metadata"].get("annotations", {}).get(REVISION, "?")
    return messages.deployment_state(
        int(status.get("readyReplicas") or 0), int(spec.get("replicas", 1)), shown, revision
    )


def moved_since(deployment: Obj, revision: int | None, replicas: int | None) -> list[str]:
    """How the deployment differs from the `revision` and `replicas` an offer was made on (each
    compared only when given); empty when it does not."""
    spec = deployment.get("spec", {})
    now_revision = deployment["metadata"].get("annotations", {}).get(REVISION, "?")
    now_replicas = int(spec.get("replicas", 1))
    moved = []
    if revision is not None and now_revision != str(revision):
        shown = ", ".join(short_image(i) for i in images(spec.get("template", {})).values())
        moved.append(messages.moved_revision(revision, now_revision, shown))
    if replicas is not None and now_replicas != replicas:
        moved.append(messages.moved_replicas(replicas, now_replicas))
    return moved


def rollout_progress(deployment: Obj) -> Progress:
    """`kubectl rollout status` on one read of the deployment."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    for condition in status.get("conditions") or []:
        if condition.get("reason") == "ProgressDeadlineExceeded":
            return Progress(status="failed", text=messages.rollout_deadline(ready, wanted))
    if int(status.get("observedGeneration") or 0) < int(
        deployment["metadata"].get("generation", 1)
    ):
        return Progress(status="progressing", text=messages.rollout_waiting_controller())
    if updated < wanted:
        return Progress(status="progressing", text=messages.rollout_updated(updated, wanted))
    if total > updated:
        return Progress(status="progressing", text=messages.rollout_old_pods(total - updated))
    if available < updated:
        return Progress(status="progressing", text=messages.rollout_available(available, updated))
    return Progress(status="done", text=messages.rollout_done(ready, wanted))
