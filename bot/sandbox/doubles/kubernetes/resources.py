"""The REST resources the double serves: group/version/plural -> kind and scope."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = ("get", "list")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_READ = ("get", "list")
_WRITE = ("get", "list", "create", "update", "patch", "delete")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False),
    ResourceType("", "v1", "nodes", "Node", namespaced=False),
    ResourceType("", "v1", "pods", "Pod", verbs=(*_READ, "create", "delete")),
    ResourceType("", "v1", "events", "Event", verbs=(*_READ, "create")),
    ResourceType("", "v1", "services", "Service"),
    ResourceType("", "v1", "endpoints", "Endpoints"),
    ResourceType("events.k8s.io", "v1", "events", "Event"),
    ResourceType("apps", "v1", "deployments", "Deployment", verbs=_WRITE),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet"),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics"),
    ResourceType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def groups() -> dict[str, list[str]]:
    """Named API groups and their versions, for discovery."""
    result: dict[str, list[str]] = {}
    for resource in RESOURCES:
        if resource.group and resource.version not in result.setdefault(resource.group, []):
            result[resource.group].append(resource.version)
    return result
