"""Rebuild `openapi-definitions.json.xz` from kubernetes-validate's schemas (a test extra).

    .venv/bin/python bot/sandbox/doubles/kubernetes/data/build_openapi.py

kubernetes-validate (Apache-2.0, LICENSE-kubernetes-validate beside this file) ships the
Kubernetes API's OpenAPI definitions converted to JSON Schema, descriptions and
`x-kubernetes-*` extensions kept. This takes the definitions the double's kinds reach (not all
862 of them), turns them back into OpenAPI form (one type per field, `$ref` to the definition,
IntOrString and Quantity as the API server publishes them) and writes them compact and
xz-compressed: the double serves /openapi/v2 and /openapi/v3 from them.
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

VERSION = "1.37.0"
HERE = Path(__file__).parent
TARGET = HERE / "openapi-definitions.json.xz"
ROOTS = [
    "io.k8s.api.core.v1.Pod",
    "io.k8s.api.core.v1.PodList",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.ServiceList",
    "io.k8s.api.core.v1.Endpoints",
    "io.k8s.api.core.v1.EndpointsList",
    "io.k8s.api.core.v1.Node",
    "io.k8s.api.core.v1.NodeList",
    "io.k8s.api.core.v1.Namespace",
    "io.k8s.api.core.v1.NamespaceList",
    "io.k8s.api.core.v1.Event",
    "io.k8s.api.core.v1.EventList",
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.apps.v1.DeploymentList",
    "io.k8s.api.apps.v1.ReplicaSet",
    "io.k8s.api.apps.v1.ReplicaSetList",
    "io.k8s.api.events.v1.Event",
    "io.k8s.api.events.v1.EventList",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerList",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
]
PREFIX = "#/$defs/"
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "format": "int-or-string",
        "type": "string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "description": "Quantity is a fixed-point representation of a number, such as 100m or "
        "128Mi.",
        "type": "string",
    },
}


def openapi(schema: Any, refs: set[str]) -> Any:
    """A JSON Schema node of kubernetes-validate back in OpenAPI form; collects the refs."""
    if isinstance(schema, list):
        return [openapi(item, refs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            name = value.removeprefix(PREFIX)
            refs.add(name)
            result[key] = name  # the serving side prefixes #/definitions/ or #/components/
        elif key == "type" and isinstance(value, list):
            result[key] = next(t for t in value if t != "null")
        elif key == "additionalProperties" and value is False:
            continue  # the strict variant's addition, not the API's
        elif (
            key == "enum"
            and schema.get("type") in (["string", "null"], "string")
            and (len(value) == 1)
        ):
            continue  # kubernetes-validate pins apiVersion and kind; the API does not
        elif key == "properties":
            result[key] = {name: openapi(prop, refs) for name, prop in value.items()}
        else:
            result[key] = openapi(value, refs)
    return result


def build() -> dict[str, Any]:
    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    definitions = json.loads((source / f"v{VERSION}-local" / "_definitions.json").read_text())
    all_defs = definitions["$defs"]
    wanted, seen = list(ROOTS), {}
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        if name in SPECIAL:
            seen[name] = SPECIAL[name]
            continue
        refs: set[str] = set()
        seen[name] = openapi(all_defs[name], refs)
        wanted.extend(sorted(refs - set(seen)))
    return {"version": VERSION, "definitions": dict(sorted(seen.items()))}


def main() -> int:
    data = build()
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    TARGET.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    print(f"{len(data['definitions'])} definitions, {len(raw)} bytes, {TARGET.stat().st_size} xz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
