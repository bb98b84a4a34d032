"""`restart`: a rolling restart, as `kubectl rollout restart` does it."""

from __future__ import annotations

from bot.actions.kubernetes import resolve_deployment
from bot.blockkit import counted
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.remediation.actions.base import Change, Intent, Plan, Preview, meta
from bot.remediation.actions.deployment import (
    DeploymentParams,
    DeploymentRemediation,
    deployment_state,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class RestartIntent(Intent):
    restarted_at: str
    """The `restartedAt` stamp the pod template gets (a new one starts new pods)."""


class Restart(DeploymentRemediation[DeploymentParams, RestartIntent]):
    """Rolling restart of a deployment (as `kubectl rollout restart`): new pods, same spec."""

    name = "restart"
    usage = "restart <deployment> [-n namespace] [--cluster name]"
    verb = "Restart"
    Params = DeploymentParams
    Intent = RestartIntent

    async def preview(self, request: Preview[DeploymentParams]) -> Plan:
        kube, namespace, deployment = request.kube, request.namespace, request.params.deployment
        current = await resolve_deployment(kube, namespace, deployment)
        stamp = request.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        after = await kube.patch_deployment(
            namespace,
            deployment,
            _patch(stamp),
            resource_version=meta(current)[0],
            dry_run=True,
        )
        replicas = int(current["spec"].get("replicas", 1))
        pods = Change(what="pods", before=pods_running(replicas), after=pods_replaced(replicas))
        restarted = Change(
            what="restartedAt",
            before=_restarted_at(current) or "never",
            after=_restarted_at(after) or stamp,
        )
        return self.plan(
            request,
            current,
            changes=[pods, restarted],
            state=deployment_state(current),
            intent=RestartIntent(restarted_at=stamp),
        )

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        stamp = self.intent(plan).restarted_at
        return await kube.patch_deployment(
            plan.namespace,
            plan.name,
            _patch(stamp),
            resource_version=plan.resource_version,
            dry_run=False,
        )

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        return _restarted_at(current) == self.intent(plan).restarted_at


def _patch(stamp: str) -> Obj:
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


def _restarted_at(deployment: Obj) -> str | None:
    annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations") or {}
    value = annotations.get(RESTARTED_AT)
    return str(value) if value else None


# --- what it says ----------------------------------------------------------------------------


def pods_running(replicas: int) -> str:
    return f"{counted(replicas, 'pod')} running"


def pods_replaced(replicas: int) -> str:
    return f"{counted(replicas, 'new pod')}, replaced one by one (rolling)"
