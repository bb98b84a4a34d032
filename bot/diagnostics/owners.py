"""What a deployment owns, and the events about any of it.

A deployment's trouble is reported on the objects it owns, not on itself: the kubelet's
BackOff, OOM and probe events are about pods, the controller's scaling events about
ReplicaSets. So "the events of `checkout`" are those about the deployment, its ReplicaSets
(ownerReferences by UID) and their pods — including pods already replaced, whose events
outlive them: a pod's name starts with its ReplicaSet's name and a dash.

Also the names people paste back: Fireline prints objects as `kind/name` (`pod/checkout-…`,
kubectl's form), and every diagnostic that takes a name accepts that form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from bot.actions.base import NameOrSelector, ObjectName, is_dns_subdomain
from bot.actions.messages import not_an_object_name
from bot.gateways.kubernetes import Obj

KINDS = {
    "pod": ("pod", "pods", "po"),
    "deployment": ("deployment", "deployments", "deploy"),
    "replicaset": ("replicaset", "replicasets", "rs"),
    "service": ("service", "services", "svc"),
    "horizontalpodautoscaler": ("horizontalpodautoscaler", "horizontalpodautoscalers", "hpa"),
    "node": ("node", "nodes", "no"),
}
_ALIASES = {alias: kind for kind, aliases in KINDS.items() for alias in aliases}
_POD_OF_DEPLOYMENT = re.compile(
    r"^(?P<deployment>[a-z0-9][-a-z0-9.]*?)-[a-z0-9]{6,10}-[a-z0-9]{5}$"
)


def split_kind(value: str) -> tuple[str | None, str]:
    """`pod/x` → ("pod", "x"); `x` → (None, "x"); an unknown kind is left in the name (and
    then fails the name's own check)."""
    if "/" in value:
        kind, _, name = value.partition("/")
        known = _ALIASES.get(kind.lower())
        if known:
            return known, name
    return None, value


def _without(*kinds: str) -> Callable[[object], object]:
    def strip(value: object) -> object:
        if isinstance(value, str):
            kind, name = split_kind(value.strip())
            if kind in kinds:
                return name
        return value

    return strip


PodName = Annotated[ObjectName, BeforeValidator(_without("pod"))]
"""A pod's name; `pod/NAME` (as Fireline and kubectl print it) accepted."""
DeploymentName = Annotated[ObjectName, BeforeValidator(_without("deployment"))]
"""A deployment's name; `deployment/NAME` accepted."""
Target = Annotated[NameOrSelector, BeforeValidator(_without("pod", "deployment"))]
"""A pod or deployment name or a label selector; `pod/NAME` and `deployment/NAME` accepted."""


def _object_ref(value: object) -> object:
    if isinstance(value, str):
        kind, name = split_kind(value.strip())
        return f"{kind}/{name}" if kind else name
    return value


def _check_ref(value: str) -> str:
    _, name = split_kind(value)
    if not is_dns_subdomain(name):
        raise ValueError(not_an_object_name())
    return value


ObjectRef = Annotated[str, AfterValidator(_check_ref), BeforeValidator(_object_ref)]
"""`[kind/]name`: a name, or a kind Fireline knows and a name (`pod/x`, `deployment/x`)."""


@dataclass(frozen=True)
class Owned:
    """A deployment and what it owns: UIDs, and the name prefixes of its ReplicaSets' pods."""

    uids: frozenset[str]
    names: frozenset[tuple[str, str]]
    """(kind, name) of the deployment and its ReplicaSets and pods as listed now."""
    pod_prefixes: tuple[str, ...]

    def holds(self, involved: Obj) -> bool:
        """Whether an event's involvedObject is the deployment or something it owns."""
        uid = involved.get("uid")
        if uid and uid in self.uids:
            return True
        kind, name = str(involved.get("kind") or ""), str(involved.get("name") or "")
        if (kind, name) in self.names:
            return True
        return kind == "Pod" and name.startswith(self.pod_prefixes)


def owned(deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj]) -> Owned:
    meta = deployment["metadata"]
    uids = {str(meta.get("uid") or "")}
    names = {("Deployment", str(meta["name"]))}
    prefixes = []
    for rs in replicasets:
        refs = rs["metadata"].get("ownerReferences") or []
        if any(r.get("uid") == meta.get("uid") for r in refs):
            uids.add(str(rs["metadata"].get("uid") or ""))
            names.add(("ReplicaSet", str(rs["metadata"]["name"])))
            prefixes.append(str(rs["metadata"]["name"]) + "-")
    for pod in pods:
        refs = pod["metadata"].get("ownerReferences") or []
        if any(r.get("uid") in uids for r in refs):
            uids.add(str(pod["metadata"].get("uid") or ""))
            names.add(("Pod", str(pod["metadata"]["name"])))
    uids.discard("")
    return Owned(frozenset(uids), frozenset(names), tuple(prefixes))


def events_of(owner: Owned, events: Iterable[Obj]) -> list[Obj]:
    return [e for e in events if owner.holds(e.get("involvedObject") or e.get("regarding") or {})]


def deployment_of_pod(name: str) -> str | None:
    """The deployment a pod's name says it belongs to (`checkout-7d9f8b6c4-x2x4q` →
    `checkout`), for a pod that is gone; None when the name has not that shape."""
    match = _POD_OF_DEPLOYMENT.match(name)
    return match.group("deployment") if match else None
