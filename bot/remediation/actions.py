"""Remediation actions: restart, scale, rollback, delete-pod. Each says exactly what it changes.

A remediation is a `TypedAction` (Params, usage, parsing, help) with four steps the approval
flow in `bot.remediation` drives:

- `preview()` reads the target and sends the write with `dryRun=All`: the API server validates
  it and answers the would-be object, and the changes shown are read from that answer (replicas
  3 → 6, the image a rollback goes back to, the pod to delete). The `Plan` it returns holds the
  target's resourceVersion and exactly what to apply (`intent`).
- `apply()` sends the same write for real, with the preview's resourceVersion as a precondition:
  a target changed since the preview is a 409 `Conflict`, never a blind overwrite.
- `applied()` says, from the target as it is now, whether the change is in place (used after a
  restart or a timed-out write: reconcile, never run again).
- `check()` is one look at the rollout (`kubectl rollout status` rules) or at the replacement
  pod; the service calls it until done or its deadline passes.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from bot.actions.base import KUBE_FLAGS, KubeParams, ObjectName, TypedAction
from bot.actions.kubernetes import get_pod, match_labels_selector, resolve_deployment
from bot.errors import NotFound, UsageError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.policy.remediation import RemediationName, RemediationRule
from bot.remediation import messages

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


class Change(BaseModel):
    """One line of "what changes": the field, its value now, its value after."""

    what: str
    before: str
    after: str


class Plan(BaseModel):
    """A previewed change: what it touches, what it changes, and what exactly to apply."""

    action: RemediationName
    kind: Literal["deployment", "pod"]
    name: str
    cluster: str
    namespace: str
    resource_version: str
    uid: str
    changes: list[Change]
    state: str
    """The target's current state, one line (shown on the card)."""
    intent: dict[str, Any] = Field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{self.kind} {self.name} in {self.cluster}/{self.namespace}"


class Progress(BaseModel):
    """One look at the result: `done`, still `progressing`, or `failed`, and what was seen."""

    status: Literal["done", "progressing", "failed"]
    text: str


class Remediation(TypedAction[KubeParams], ABC):
    """Base of the remediation actions (see the module docstring for the four steps)."""

    name: ClassVar[RemediationName]

    @abstractmethod
    def target(self, params: Any) -> str:
        """The name of the object it changes (a deployment or a pod)."""

    @abstractmethod
    async def preview(
        self, params: Any, kube: KubeGateway, cluster: str, namespace: str, rule: RemediationRule,
        now: datetime,
    ) -> Plan:  # fmt: skip
        """Read the target, dry-run the write, and say what would change."""

    @abstractmethod
    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        """Apply the plan, only if the target still has the preview's resourceVersion."""

    @abstractmethod
    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        """Whether the target, as it is now, carries the change."""

    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        """One look at the rollout of the deployment the plan changed."""
        return rollout_progress(await kube.get_deployment(plan.namespace, plan.name))


# --- deployments -----------------------------------------------------------------------------


class DeploymentParams(KubeParams):
    positional: ClassVar[tuple[str, ...]] = ("deployment",)

    deployment: ObjectName
    """The deployment to change."""


class ScaleParams(DeploymentParams):
    positional = ("deployment", "replicas")

    replicas: int = Field(ge=0)
    """How many replicas the deployment should run."""


class RollbackParams(DeploymentParams):
    flags: ClassVar[dict[str, str]] = {**KUBE_FLAGS, "--to-revision": "to_revision"}

    to_revision: int | None = Field(default=None, ge=1)
    """The revision to go back to; the one before the current when left out."""


class PodParams(KubeParams):
    positional = ("pod",)

    pod: ObjectName
    """The pod to delete (its controller starts a replacement)."""


def _meta(obj: Obj) -> tuple[str, str]:
    return str(obj["metadata"]["resourceVersion"]), str(obj["metadata"].get("uid", ""))


def _images(template: Obj) -> dict[str, str]:
    return {
        str(c.get("name")): str(c.get("image"))
        for c in template.get("spec", {}).get("containers") or []
    }


def _short_image(image: str) -> str:
    return image.rsplit("/", 1)[-1]


def deployment_state(deployment: Obj) -> str:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    images = ", ".join(_short_image(i) for i in _images(spec.get("template", {})).values())
    revision = deployment["metadata"].get("annotations", {}).get(REVISION, "?")
    return messages.deployment_state(
        int(status.get("readyReplicas") or 0), int(spec.get("replicas", 1)), images, revision
    )


class Restart(Remediation):
    """Rolling restart of a deployment (as `kubectl rollout restart`): new pods, same spec."""

    name = "restart"
    usage = "restart <deployment> [-n namespace] [--cluster name]"
    Params = DeploymentParams

    def target(self, params: Any) -> str:
        return str(params.deployment)

    async def preview(
        self, params: Any, kube: KubeGateway, cluster: str, namespace: str, rule: RemediationRule,
        now: datetime,
    ) -> Plan:  # fmt: skip
        current = await resolve_deployment(kube, namespace, params.deployment)
        rv, uid = _meta(current)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        after = await kube.patch_deployment(
            namespace, params.deployment, self._patch(stamp), resource_version=rv, dry_run=True
        )
        before_stamp = _restarted_at(current) or "never"
        replicas = int(current["spec"].get("replicas", 1))
        return Plan(
            action=self.name, kind="deployment", name=params.deployment, cluster=cluster,
            namespace=namespace, resource_version=rv, uid=uid, state=deployment_state(current),
            changes=[
                Change(what="pods", before=messages.pods_running(replicas),
                       after=messages.pods_replaced(replicas)),
                Change(what="restartedAt", before=before_stamp,
                       after=_restarted_at(after) or stamp),
            ],
            intent={"restarted_at": stamp},
        )  # fmt: skip

    @staticmethod
    def _patch(stamp: str) -> Obj:
        return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.patch_deployment(
            plan.namespace, plan.name, self._patch(plan.intent["restarted_at"]),
            resource_version=plan.resource_version, dry_run=False,
        )  # fmt: skip

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        return _restarted_at(current) == str(plan.intent["restarted_at"])


def _restarted_at(deployment: Obj) -> str | None:
    annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations") or {}
    value = annotations.get(RESTARTED_AT)
    return str(value) if value else None


class Scale(Remediation):
    """Set a deployment's replicas, within the policy's bounds and largest step."""

    name = "scale"
    usage = "scale <deployment> <replicas> [-n namespace] [--cluster name]"
    Params = ScaleParams

    def target(self, params: Any) -> str:
        return str(params.deployment)

    async def preview(
        self, params: Any, kube: KubeGateway, cluster: str, namespace: str, rule: RemediationRule,
        now: datetime,
    ) -> Plan:  # fmt: skip
        current = await resolve_deployment(kube, namespace, params.deployment)
        before = int(current["spec"].get("replicas", 1))
        wanted = int(params.replicas)
        if wanted == before:
            raise UsageError(messages.scale_unchanged(params.deployment, before))
        if not rule.min_replicas <= wanted <= rule.max_replicas:
            raise UsageError(messages.scale_out_of_bounds(wanted, rule.min_replicas,
                                                          rule.max_replicas))  # fmt: skip
        if abs(wanted - before) > rule.max_step:
            raise UsageError(messages.scale_step_too_big(before, wanted, rule.max_step))
        rv, uid = _meta(current)
        after = await kube.scale_deployment(
            namespace, params.deployment, wanted, resource_version=rv, dry_run=True
        )
        return Plan(
            action=self.name, kind="deployment", name=params.deployment, cluster=cluster,
            namespace=namespace, resource_version=rv, uid=uid, state=deployment_state(current),
            changes=[Change(what="replicas", before=str(before),
                            after=str(after.get("spec", {}).get("replicas", wanted)))],
            intent={"replicas": wanted, "before": before},
        )  # fmt: skip

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.scale_deployment(
            plan.namespace, plan.name, int(plan.intent["replicas"]),
            resource_version=plan.resource_version, dry_run=False,
        )  # fmt: skip

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        replicas = int(current["spec"].get("replicas", 1))
        return replicas == int(plan.intent["replicas"]) and _meta(current)[0] != (
            plan.resource_version
        )


class Rollback(Remediation):
    """Roll a deployment back (as `kubectl rollout undo`): the previous, or named, revision's
    pod template."""

    name = "rollback"
    usage = "rollback <deployment> [--to-revision N] [-n namespace] [--cluster name]"
    Params = RollbackParams

    def target(self, params: Any) -> str:
        return str(params.deployment)

    async def preview(
        self, params: Any, kube: KubeGateway, cluster: str, namespace: str, rule: RemediationRule,
        now: datetime,
    ) -> Plan:  # fmt: skip
        current = await resolve_deployment(kube, namespace, params.deployment)
        rv, uid = _meta(current)
        revision, template = await _revision_template(kube, current, params.to_revision)
        now_template = current["spec"]["template"]
        if template == now_template:
            raise UsageError(messages.rollback_same_template(params.deployment, revision))
        after = await kube.patch_deployment(
            namespace, params.deployment, _template_ops(template), resource_version=rv,
            dry_run=True,
        )  # fmt: skip
        changes = _image_changes(now_template, after["spec"]["template"])
        current_revision = current["metadata"].get("annotations", {}).get(REVISION, "?")
        changes.append(Change(what="revision", before=current_revision,
                              after=messages.revision_after(revision)))  # fmt: skip
        return Plan(
            action=self.name, kind="deployment", name=params.deployment, cluster=cluster,
            namespace=namespace, resource_version=rv, uid=uid, state=deployment_state(current),
            changes=changes, intent={"revision": revision, "template": template},
        )  # fmt: skip

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.patch_deployment(
            plan.namespace, plan.name, _template_ops(plan.intent["template"]),
            resource_version=plan.resource_version, dry_run=False,
        )  # fmt: skip

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        return bool(current["spec"]["template"] == plan.intent["template"])


def _template_ops(template: Obj) -> list[Obj]:
    return [{"op": "replace", "path": "/spec/template", "value": template}]


def _image_changes(before: Obj, after: Obj) -> list[Change]:
    old, new = _images(before), _images(after)
    return [
        Change(what=f"image ({name})", before=_short_image(old.get(name, "—")),
               after=_short_image(image))
        for name, image in new.items()
        if old.get(name) != image
    ]  # fmt: skip


async def _revision_template(
    kube: KubeGateway, deployment: Obj, wanted: int | None
) -> tuple[int, Obj]:
    """The revision to go back to and its pod template (without the pod-template-hash label),
    from the deployment's ReplicaSets, as `kubectl rollout undo` finds it."""
    namespace = deployment["metadata"]["namespace"]
    uid = deployment["metadata"]["uid"]
    sets = await kube.list_replicasets(namespace, match_labels_selector(deployment) or None)
    owned = {
        int(rs["metadata"].get("annotations", {}).get(REVISION) or 0): rs
        for rs in sets
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    }
    current = int(deployment["metadata"].get("annotations", {}).get(REVISION) or 0)
    if wanted is None:
        older = [n for n in owned if 0 < n < current]
        if not older:
            raise NotFound(messages.no_previous_revision(deployment["metadata"]["name"]))
        wanted = max(older)
    if wanted not in owned:
        raise NotFound(
            messages.no_such_revision(deployment["metadata"]["name"], wanted, sorted(owned))
        )
    template = copy.deepcopy(owned[wanted]["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return wanted, template


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


# --- pods ------------------------------------------------------------------------------------


class DeletePod(Remediation):
    """Delete one pod; its ReplicaSet starts a replacement (verified Ready)."""

    name = "delete-pod"
    usage = "delete-pod <pod> [-n namespace] [--cluster name]"
    Params = PodParams

    def target(self, params: Any) -> str:
        return str(params.pod)

    async def preview(
        self, params: Any, kube: KubeGateway, cluster: str, namespace: str, rule: RemediationRule,
        now: datetime,
    ) -> Plan:  # fmt: skip
        pod = await get_pod(kube, namespace, params.pod)
        rv, uid = _meta(pod)
        owner = next(
            (r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None
        )
        if owner is None:
            raise UsageError(messages.pod_without_controller(params.pod))
        await kube.delete_pod(namespace, params.pod, uid=uid, resource_version=rv, dry_run=True)
        siblings = await kube.list_pods(namespace)
        return Plan(
            action=self.name, kind="pod", name=params.pod, cluster=cluster, namespace=namespace,
            resource_version=rv, uid=uid, state=messages.pod_state(pod),
            changes=[Change(what="pod", before=messages.pod_state(pod),
                            after=messages.pod_replaced(owner["kind"], owner["name"]))],
            intent={
                "owner_uid": owner.get("uid"), "owner": owner["name"],
                "pods_before": sorted(
                    p["metadata"]["name"] for p in siblings if _owned_by(p, owner.get("uid"))
                ),
            },
        )  # fmt: skip

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.delete_pod(
            plan.namespace, plan.name, uid=plan.uid, resource_version=plan.resource_version,
            dry_run=False,
        )  # fmt: skip

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        try:
            pod = await kube.get_pod(plan.namespace, plan.name)
        except NotFound:
            return True
        return bool(pod["metadata"].get("uid") != plan.uid or pod["metadata"].get(
            "deletionTimestamp"))  # fmt: skip

    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        pods = await kube.list_pods(plan.namespace)
        before = set(plan.intent["pods_before"])
        new = [
            p for p in pods
            if _owned_by(p, plan.intent["owner_uid"]) and p["metadata"]["name"] not in before
        ]  # fmt: skip
        ready = [p for p in new if _pod_ready(p)]
        if ready:
            name = ready[0]["metadata"]["name"]
            return Progress(status="done", text=messages.replacement_ready(name))
        return Progress(
            status="progressing",
            text=messages.replacement_waiting(new[0]["metadata"]["name"] if new else None),
        )


def _owned_by(obj: Obj, uid: Any) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def default_remediations() -> tuple[Remediation, ...]:
    """The remediation actions, explicitly (nothing registers itself)."""
    return (Restart(), Scale(), Rollback(), DeletePod())
