"""Discovery documents: /version, /api, /apis and per-group-version resource lists, in both the
legacy shape and the aggregated one (apidiscovery.k8s.io/v2) that kubectl asks for first.

Short names and categories come from `resources`: they are what make `kubectl get deploy`,
`kubectl get ns` and `kubectl get all` resolve, exactly as discovery makes them resolve on a
real cluster (kubectl has no built-in list of them).
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.kubernetes.resources import RESOURCES, ResourceType, groups

KUBERNETES_VERSION = "v1.37.0"
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def version_info() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "apiVersion": "v1",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{name}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for name, versions in groups().items()
        ],
    }


def _legacy_entries(r: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular_name,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    entries = [entry]
    for sub in r.subresources:
        sub_entry: dict[str, Any] = {
            "name": f"{r.plural}/{sub.name}",
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group:
            sub_entry.update(group=sub.group, version=sub.version)
        entries.append(sub_entry)
    return entries


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    resources = [r for r in RESOURCES if r.group == group and r.version == version]
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for r in resources for entry in _legacy_entries(r)],
    }


# -- aggregated discovery ---------------------------------------------------------------------
def wants_aggregated(accept: str) -> str | None:
    """The aggregated media type the client asked for, if any (kubectl asks for v2 first)."""
    offered = [part.strip().replace(" ", "") for part in accept.split(",")]
    for media in (AGGREGATED_V2, AGGREGATED_V2BETA1):
        if media in offered:
            return media
    return None


def _aggregated_resource(r: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular_name,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {
                    "group": sub.group or r.group,
                    "version": sub.version or r.version,
                    "kind": sub.kind,
                },
                "verbs": list(sub.verbs),
            }
            for sub in r.subresources
        ]
    return entry


def aggregated(legacy: bool, media: str) -> dict[str, Any]:
    """/api (legacy=True) or /apis as an APIGroupDiscoveryList."""
    names = [""] if legacy else list(groups())
    items = []
    for name in names:
        versions = sorted({r.version for r in RESOURCES if r.group == name}, reverse=True)
        items.append(
            {
                "metadata": {"name": name} if name else {},
                "versions": [
                    {
                        "version": version,
                        "resources": [
                            _aggregated_resource(r)
                            for r in RESOURCES
                            if r.group == name and r.version == version
                        ],
                        "freshness": "Current",
                    }
                    for version in versions
                ],
            }
        )
    api_version = (
        "apidiscovery.k8s.io/v2" if media == AGGREGATED_V2 else "apidiscovery.k8s.io/v2beta1"
    )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }
