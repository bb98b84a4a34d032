"""The REST resources the double serves: group/version/plural -> kind, scope, verbs and the
names kubectl knows them by (short names, categories such as `all`), as discovery lists them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = ("get", "list", "watch")
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    singular: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular_name(self) -> str:
        return self.singular if self.singular is not None else self.kind.lower()


_READ = ("get", "list", "watch")
_WRITE = ("create", "delete", "get", "list", "patch", "update", "watch")
_ALL = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "", "v1", "namespaces", "Namespace", namespaced=False, verbs=_WRITE, short_names=("ns",)
    ),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        verbs=("get", "list", "patch", "update", "watch"),
        short_names=("no",),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        verbs=_WRITE,
        short_names=("po",),
        categories=_ALL,
        subresources=(Subresource("log", "Pod", ("get",)),),
    ),
    ResourceType("", "v1", "events", "Event", verbs=("create", *_READ), short_names=("ev",)),
    ResourceType(
        "", "v1", "services", "Service", verbs=_WRITE, short_names=("svc",), categories=_ALL
    ),
    ResourceType("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        verbs=_WRITE,
        short_names=("deploy",),
        categories=_ALL,
        subresources=(
            Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"),
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        verbs=("get", "list", "patch", "update", "watch"),
        short_names=("rs",),
        categories=_ALL,
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        verbs=("get", "list", "patch", "update", "watch"),
        short_names=("hpa",),
        categories=_ALL,
    ),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=("get", "list")),
    ResourceType(
        "metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=("get", "list")
    ),
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
