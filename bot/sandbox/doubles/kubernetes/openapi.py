"""/openapi/v2 and /openapi/v3: the schemas kubectl needs for `explain`, `apply` and `edit`.

kubectl 1.32 reads OpenAPI v3 per group-version: `explain` prints a kind's fields from it,
`apply` and `edit` compute strategic merge patches from its `x-kubernetes-patch-*` extensions,
and before sending `fieldValidation=Strict` it checks that the group-version's PATCH operation
declares that parameter (without it, it validates on the client from OpenAPI v2). The
definitions are the Kubernetes API's own, taken from kubernetes-validate's data for the kinds
the double serves (`data/build_openapi.py`; 62 kB compressed instead of 1.8 MB of JSON), and
the paths are generated from `resources`. The double enforces `fieldValidation=Strict` with the
same definitions: an unknown field is a 400, as the API server answers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import lzma
from importlib import resources as package_files
from typing import Any

from bot.sandbox.doubles.kubernetes.errors import ApiError
from bot.sandbox.doubles.kubernetes.resources import RESOURCES, ResourceType

Schema = dict[str, Any]
_DATA = "openapi-definitions.json.xz"


@functools.cache
def definitions() -> dict[str, Schema]:
    raw = package_files.files("bot.sandbox.doubles.kubernetes").joinpath("data", _DATA)
    data = json.loads(lzma.decompress(raw.read_bytes()))
    defs: dict[str, Schema] = data["definitions"]
    return defs


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            key = (gvk["group"], gvk["version"], gvk["kind"])
            if key not in index or not name.startswith("io.k8s.apimachinery"):
                index[key] = name
    return index


def definition_of(group: str, version: str, kind: str) -> str | None:
    return _by_gvk().get((group, version, kind))


def _refs(schema: Any, found: set[str]) -> None:
    if isinstance(schema, dict):
        if "$ref" in schema:
            found.add(schema["$ref"])
        for value in schema.values():
            _refs(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, found)


def closure(names: set[str]) -> set[str]:
    defs, seen, wanted = definitions(), set[str](), list(names)
    while wanted:
        name = wanted.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        wanted.extend(found - seen)
    return seen


def _prefixed(schema: Any, prefix: str, wrap: bool) -> Any:
    """Point `$ref`s at `prefix`; in v3, a `$ref` with siblings goes in an allOf (OpenAPI 3.0
    ignores a $ref's siblings), as the API server publishes it."""
    if isinstance(schema, list):
        return [_prefixed(item, prefix, wrap) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: _prefixed(v, prefix, wrap) for k, v in schema.items() if k != "$ref"}
    if "$ref" in schema:
        ref = prefix + schema["$ref"]
        if wrap and result:
            result["allOf"] = [{"$ref": ref}]
        else:
            result["$ref"] = ref
    return result


# -- paths --------------------------------------------------------------------------------------
def _base(r: ResourceType) -> str:
    return f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"


_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_PATCH_MEDIA = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
"""What kubectl looks for before it computes a strategic merge patch from OpenAPI v3."""


def _parameter(name: str, kind: str, v3: bool) -> dict[str, Any]:
    typed = {"schema": {"type": kind}} if v3 else {"type": kind}
    return {"name": name, "in": "query", **typed}


def _operation(
    r: ResourceType, action: str, definition: str, ref_prefix: str, v3: bool
) -> dict[str, Any]:
    verbs = {"list": "list", "create": "create", "get": "read", "update": "replace"}
    scope = "Namespaced" if r.namespaced else ""
    group = (r.group.split(".")[0] if r.group else "core").capitalize()
    gvk = {"group": r.group, "kind": r.kind, "version": r.version}
    actions = {"create": "post", "update": "put"}
    operation: dict[str, Any] = {
        "operationId": f"{verbs.get(action, action)}{group}{r.version.capitalize()}{scope}{r.kind}",
        "x-kubernetes-action": actions.get(action, action),
        "x-kubernetes-group-version-kind": gvk,
    }
    names = list(_WRITE_PARAMS) if action in ("create", "update", "patch") else []
    if action == "patch":
        names.append("force")
    params = [_parameter(name, "boolean" if name == "force" else "string", v3) for name in names]
    if params:
        operation["parameters"] = params
    if action in ("create", "update", "patch"):
        body = {"$ref": ref_prefix + (_PATCH if action == "patch" else definition)}
        media = _PATCH_MEDIA if action == "patch" else ("application/json", "application/yaml")
        if v3:
            operation["requestBody"] = {
                "content": {m: {"schema": body} for m in media},
                "required": True,
            }
        else:
            operation["consumes"] = list(media)
            operation.setdefault("parameters", []).append(
                {"name": "body", "in": "body", "required": True, "schema": body}
            )
    response = {"$ref": ref_prefix + (definition + "List" if action == "list" else definition)}
    if v3:
        operation["responses"] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": response}}}
        }
    else:
        operation["responses"] = {"200": {"description": "OK", "schema": response}}
    return operation


def paths(gv_resources: list[ResourceType], ref_prefix: str, v3: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for r in gv_resources:
        definition = definition_of(r.group, r.version, r.kind)
        if definition is None:
            continue
        scope = "/namespaces/{namespace}" if r.namespaced else ""
        collection = f"{_base(r)}{scope}/{r.plural}"
        ops: dict[str, Any] = {}
        if "list" in r.verbs:
            ops["get"] = _operation(r, "list", definition, ref_prefix, v3)
        if "create" in r.verbs:
            ops["post"] = _operation(r, "create", definition, ref_prefix, v3)
        if ops:
            result[collection] = ops
        item: dict[str, Any] = {}
        for verb, method in (("get", "get"), ("update", "put"), ("patch", "patch")):
            if verb in r.verbs:
                item[method] = _operation(r, verb, definition, ref_prefix, v3)
        if "delete" in r.verbs:
            item["delete"] = _operation(r, "delete", definition, ref_prefix, v3)
        if item:
            result[f"{collection}/{{name}}"] = item
    return result


# -- documents ----------------------------------------------------------------------------------
_INFO = {"title": "Kubernetes", "version": "v1.37.0"}


@functools.cache
def v2_document() -> bytes:
    served = [r for r in RESOURCES if definition_of(r.group, r.version, r.kind)]
    document = {
        "swagger": "2.0",
        "info": _INFO,
        "paths": paths(served, "#/definitions/", v3=False),
        "definitions": {
            name: _prefixed(schema, "#/definitions/", wrap=False)
            for name, schema in definitions().items()
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _group_versions() -> dict[str, list[ResourceType]]:
    result: dict[str, list[ResourceType]] = {}
    for r in RESOURCES:
        if definition_of(r.group, r.version, r.kind) is None:
            continue  # metrics.k8s.io: metrics-server's own API, not in the Kubernetes spec
        key = f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}"
        result.setdefault(key, []).append(r)
    return result


@functools.cache
def v3_document(gv_path: str) -> bytes | None:
    gv_resources = _group_versions().get(gv_path)
    if gv_resources is None:
        return None
    roots = {definition_of(r.group, r.version, r.kind) or "" for r in gv_resources}
    roots |= {f"{name}List" for name in roots} | {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    }
    defs = definitions()
    prefix = "#/components/schemas/"
    document = {
        "openapi": "3.0.0",
        "info": _INFO,
        "paths": paths(gv_resources, prefix, v3=True),
        "components": {
            "schemas": {
                name: _prefixed(defs[name], prefix, wrap=True) for name in sorted(closure(roots))
            }
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


@functools.cache
def v3_index() -> dict[str, Any]:
    entries = {}
    for gv_path in _group_versions():
        document = v3_document(gv_path) or b""
        digest = hashlib.sha512(document).hexdigest()[:128].upper()
        entries[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest}"}
    return {"paths": entries}


# -- field validation -------------------------------------------------------------------------
def unknown_fields(obj: Any, definition: str, *, prune: bool = False) -> list[str]:
    """Fields of `obj` its schema does not declare, as `spec.template.spec.foo` paths; with
    `prune`, also removed from `obj` (as decoding into the API's Go types drops them)."""
    found: list[str] = []
    _walk(obj, definitions().get(definition, {}), "", found, prune)
    return found


def _walk(value: Any, schema: Schema, path: str, found: list[str], prune: bool) -> None:
    defs = definitions()
    while "$ref" in schema or "allOf" in schema:
        ref = schema.get("$ref") or schema["allOf"][0]["$ref"]
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in list(value.items()):
            where = f"{path}.{key}" if path else key
            if properties is not None and key in properties:
                _walk(item, properties[key], where, found, prune)
            elif isinstance(extra, dict):
                _walk(item, extra, where, found, prune)
            elif properties is not None and extra is None:
                found.append(where)
                if prune:
                    del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(item, schema["items"], f"{path}[{index}]", found, prune)


def check_fields(obj: Any, resource: ResourceType, directive: str | None) -> list[str]:
    """Apply `fieldValidation` to an object about to be stored, as the API server does:
    Strict rejects unknown fields with its 400; Warn (the default) and Ignore drop them (Go
    types have nowhere to keep them), Warn returning them for the response's Warning header."""
    definition = definition_of(resource.group, resource.version, resource.kind)
    if definition is None or not isinstance(obj, dict):
        return []
    unknown = unknown_fields(obj, definition, prune=directive != "Strict")
    if not unknown or directive == "Ignore":
        return []
    if directive == "Strict":
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise ApiError(
            400,
            f'{resource.kind} in version "{resource.version}" cannot be handled as a '
            f"{resource.kind}: strict decoding error: {fields}",
        )
    return [f'unknown field "{path}"' for path in unknown]
