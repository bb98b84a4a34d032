"""`rollback`: a deployment back to an earlier revision's pod template, as `kubectl rollout undo`
does it."""

from __future__ import annotations

import copy
from typing import ClassVar

from pydantic import Field

from bot.actions.base import KUBE_FLAGS
from bot.actions.kubernetes import match_labels_selector, resolve_deployment
from bot.errors import NotFound, UsageError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.remediation.actions.base import Change, Intent, Plan, Preview, meta
from bot.remediation.actions.deployment import (
    REVISION,
    DeploymentParams,
    DeploymentRemediation,
    deployment_state,
    images,
    short_image,
)

HASH_LABEL = "pod-template-hash"
CHANGE_CAUSE = "kubernetes.io/change-cause"


class RollbackParams(DeploymentParams):
    flags: ClassVar[dict[str, str]] = {**KUBE_FLAGS, "--to-revision": "to_revision"}

    to_revision: int | None = Field(default=None, ge=1)
    """The revision to go back to; the one before the current when left out."""


class RollbackIntent(Intent):
    revision: int
    """The revision gone back to."""
    template: Obj
    """Its pod template (without the pod-template-hash label), which replaces the current one."""
    change_cause: str | None = None
    """Its change-cause, which the deployment takes back (the deployment controller copies the
    deployment's onto the revision: without this the old revision would be relabelled with the
    cause of the rollout being undone). None: the revision had none."""


class Rollback(DeploymentRemediation[RollbackParams, RollbackIntent]):
    """Roll a deployment back (as `kubectl rollout undo`): the previous, or named, revision's
    pod template."""

    name = "rollback"
    usage = "rollback <deployment> [--to-revision N] [-n namespace] [--cluster name]"
    verb = "Roll back"
    Params = RollbackParams
    Intent = RollbackIntent

    async def preview(self, request: Preview[RollbackParams]) -> Plan:
        kube, params = request.kube, request.params
        current = await resolve_deployment(kube, request.namespace, params.deployment)
        revision, template, cause = await _revision_template(kube, current, params.to_revision)
        now_template = current["spec"]["template"]
        if template == now_template:
            raise UsageError(rollback_same_template(params.deployment, revision))
        after = await kube.patch_deployment(
            request.namespace,
            params.deployment,
            _template_ops(template, cause),
            resource_version=meta(current)[0],
            dry_run=True,
        )
        changes = _image_changes(now_template, after["spec"]["template"])
        current_revision = current["metadata"].get("annotations", {}).get(REVISION, "?")
        changes.append(
            Change(what="revision", before=current_revision, after=revision_after(revision))
        )
        return self.plan(
            request,
            current,
            changes=changes,
            state=deployment_state(current),
            intent=RollbackIntent(revision=revision, template=template, change_cause=cause),
        )

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.patch_deployment(
            plan.namespace,
            plan.name,
            _template_ops(self.intent(plan).template, self.intent(plan).change_cause),
            resource_version=plan.resource_version,
            dry_run=False,
        )

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        return bool(current["spec"]["template"] == self.intent(plan).template)


def _template_ops(template: Obj, change_cause: str | None = None) -> list[Obj]:
    """The revision's template and, as `kubectl rollout undo` copies the revision's annotations
    onto the deployment, its change-cause."""
    ops: list[Obj] = [{"op": "replace", "path": "/spec/template", "value": template}]
    if change_cause is not None:
        path = "/metadata/annotations/" + CHANGE_CAUSE.replace("~", "~0").replace("/", "~1")
        ops.append({"op": "add", "path": path, "value": change_cause})
    return ops


def _image_changes(before: Obj, after: Obj) -> list[Change]:
    old, new = images(before), images(after)
    return [
        Change(
            what=f"image ({name})",
            before=short_image(old.get(name, "—")),
            after=short_image(image),
        )
        for name, image in new.items()
        if old.get(name) != image
    ]


async def _revision_template(
    kube: KubeGateway, deployment: Obj, wanted: int | None
) -> tuple[int, Obj, str | None]:
    """The revision to go back to, its pod template (without the pod-template-hash label) and
    its change-cause, from the deployment's ReplicaSets, as `kubectl rollout undo` finds them."""
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
            raise NotFound(no_previous_revision(deployment["metadata"]["name"]))
        wanted = max(older)
    if wanted not in owned:
        raise NotFound(no_such_revision(deployment["metadata"]["name"], wanted, sorted(owned)))
    template = copy.deepcopy(owned[wanted]["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    cause = owned[wanted]["metadata"].get("annotations", {}).get(CHANGE_CAUSE)
    return wanted, template, cause


# --- what it says ----------------------------------------------------------------------------


def rollback_same_template(deployment: str, revision: int) -> str:
    return f"`{deployment}` already runs revision {revision}'s pod template; nothing to roll back."


def revision_after(revision: int) -> str:
    return f"{revision}'s template (recorded as a new revision)"


def no_previous_revision(deployment: str) -> str:
    return (
        f"`{deployment}` has no earlier revision to roll back to. "
        f"`/incident rollout-history {deployment}` shows what it has."
    )


def no_such_revision(deployment: str, revision: int, known: list[int]) -> str:
    listed = ", ".join(str(n) for n in known) or "none"
    return f"`{deployment}` has no revision {revision} (it has: {listed})."
