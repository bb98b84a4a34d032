"""`scale`: set a deployment's replicas, within the policy's bounds and largest step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from bot.actions.kubernetes import resolve_deployment
from bot.errors import UsageError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.remediation.actions.base import Change, Intent, Plan, Preview, meta
from bot.remediation.actions.deployment import (
    DeploymentParams,
    DeploymentRemediation,
    deployment_state,
)


class ScaleParams(DeploymentParams):
    positional = ("deployment", "replicas")

    replicas: int = Field(ge=0)
    """How many replicas the deployment should run."""


class ScaleIntent(Intent):
    replicas: int
    """The replicas to set."""
    before: int
    """The replicas at the preview."""


class Scale(DeploymentRemediation[ScaleParams, ScaleIntent]):
    """Set a deployment's replicas, within the policy's bounds and largest step."""

    name = "scale"
    usage = "scale <deployment> <replicas> [-n namespace] [--cluster name]"
    verb = "Scale"
    Params = ScaleParams
    Intent = ScaleIntent

    async def preview(self, request: Preview[ScaleParams]) -> Plan:
        params, rule = request.params, request.rule
        current = await resolve_deployment(request.kube, request.namespace, params.deployment)
        before = int(current["spec"].get("replicas", 1))
        wanted = params.replicas
        if wanted == before:
            raise UsageError(scale_unchanged(params.deployment, before))
        if not rule.min_replicas <= wanted <= rule.max_replicas:
            raise UsageError(scale_out_of_bounds(wanted, rule.min_replicas, rule.max_replicas))
        if abs(wanted - before) > rule.max_step:
            raise UsageError(scale_step_too_big(before, wanted, rule.max_step))
        after = await request.kube.scale_deployment(
            request.namespace,
            params.deployment,
            wanted,
            resource_version=meta(current)[0],
            dry_run=True,
        )
        scaled = str(after.get("spec", {}).get("replicas", wanted))
        return self.plan(
            request,
            current,
            changes=[Change(what="replicas", before=str(before), after=scaled)],
            state=deployment_state(current),
            intent=ScaleIntent(replicas=wanted, before=before),
        )

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.scale_deployment(
            plan.namespace,
            plan.name,
            self.intent(plan).replicas,
            resource_version=plan.resource_version,
            dry_run=False,
        )

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        replicas = int(current["spec"].get("replicas", 1))
        changed = meta(current)[0] != plan.resource_version
        return replicas == self.intent(plan).replicas and changed

    def button(self, values: Mapping[str, Any]) -> str:
        text = super().button(values)
        return f"{text} to {values['replicas']}" if "replicas" in values else text


# --- what it says ----------------------------------------------------------------------------


def scale_unchanged(deployment: str, replicas: int) -> str:
    return f"`{deployment}` already runs {replicas} replicas; nothing to change."


def scale_out_of_bounds(wanted: int, low: int, high: int) -> str:
    return (
        f"{wanted} replicas is outside what the policy allows ({low}–{high}). "
        f"Ask for a number between {low} and {high}."
    )


def scale_step_too_big(before: int, wanted: int, step: int) -> str:
    nearest = before + step if wanted > before else max(before - step, 0)
    return (
        f"{before} → {wanted} is a step of {abs(wanted - before)}; the policy allows at most "
        f"{step} at a time. Try `{nearest}` first."
    )
