"""`delete-pod`: delete one pod that a controller will replace, and wait for the replacement."""

from __future__ import annotations

from typing import ClassVar

from bot.actions.base import KubeParams, ObjectName
from bot.actions.kubernetes import get_pod
from bot.blockkit import counted
from bot.errors import NotFound, UsageError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.remediation.actions.base import (
    Change,
    Intent,
    Kind,
    Plan,
    Preview,
    Progress,
    Remediation,
    meta,
)


class PodParams(KubeParams):
    positional = ("pod",)

    pod: ObjectName
    """The pod to delete (its controller starts a replacement)."""


class DeletePodIntent(Intent):
    owner_uid: str | None
    """The uid of the pod's controller (whose new pod is the replacement)."""
    owner: str
    """The controller's name."""
    pods_before: list[str]
    """The controller's pods at the preview (a replacement is a pod not among them)."""


class DeletePod(Remediation[PodParams, DeletePodIntent]):
    """Delete one pod; its ReplicaSet starts a replacement (verified Ready)."""

    name = "delete-pod"
    usage = "delete-pod <pod> [-n namespace] [--cluster name]"
    verb = "Delete pod"
    kind: ClassVar[Kind] = "pod"
    Params = PodParams
    Intent = DeletePodIntent

    def target(self, params: PodParams) -> str:
        return params.pod

    async def preview(self, request: Preview[PodParams]) -> Plan:
        kube, namespace, name = request.kube, request.namespace, request.params.pod
        pod = await get_pod(kube, namespace, name)
        resource_version, uid = meta(pod)
        owner = next(
            (r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None
        )
        if owner is None:
            raise UsageError(pod_without_controller(name))
        await kube.delete_pod(
            namespace, name, uid=uid, resource_version=resource_version, dry_run=True
        )
        siblings = await kube.list_pods(namespace)
        owner_uid = owner.get("uid")
        replaced = Change(
            what="pod", before=pod_state(pod), after=pod_replaced(owner["kind"], owner["name"])
        )
        return self.plan(
            request,
            pod,
            changes=[replaced],
            state=pod_state(pod),
            intent=DeletePodIntent(
                owner_uid=owner_uid,
                owner=owner["name"],
                pods_before=sorted(
                    p["metadata"]["name"] for p in siblings if _owned_by(p, owner_uid)
                ),
            ),
        )

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.delete_pod(
            plan.namespace,
            plan.name,
            uid=plan.uid,
            resource_version=plan.resource_version,
            dry_run=False,
        )

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        try:
            pod = await kube.get_pod(plan.namespace, plan.name)
        except NotFound:
            return True
        metadata = pod["metadata"]
        return bool(metadata.get("uid") != plan.uid or metadata.get("deletionTimestamp"))

    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        """One look for the replacement pod: a pod of the same controller, new, and Ready."""
        intent = self.intent(plan)
        pods = await kube.list_pods(plan.namespace)
        before = set(intent.pods_before)
        new = [
            p
            for p in pods
            if _owned_by(p, intent.owner_uid) and p["metadata"]["name"] not in before
        ]
        ready = [p for p in new if _pod_ready(p)]
        if ready:
            return Progress(status="done", text=replacement_ready(ready[0]["metadata"]["name"]))
        return Progress(
            status="progressing",
            text=replacement_waiting(new[0]["metadata"]["name"] if new else None),
        )


def _owned_by(obj: Obj, uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


# --- what it says ----------------------------------------------------------------------------


def pod_without_controller(pod: str) -> str:
    return (
        f"`{pod}` has no controller, so nothing would replace it. Fireline only deletes pods a "
        "ReplicaSet will replace."
    )


def pod_state(pod: Obj) -> str:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    ready = sum(1 for c in statuses if c.get("ready"))
    return (
        f"{status.get('phase', '?')}, {ready}/{len(statuses)} ready, {counted(restarts, 'restart')}"
    )


def pod_replaced(owner_kind: str, owner: str) -> str:
    return f"deleted; {owner_kind} {owner} starts a replacement"


def replacement_ready(pod: str) -> str:
    return f"replacement pod {pod} is Ready"


def replacement_waiting(pod: str | None) -> str:
    return f"replacement pod {pod} not Ready yet" if pod else "no replacement pod yet"
