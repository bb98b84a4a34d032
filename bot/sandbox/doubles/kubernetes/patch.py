"""The three PATCH content types the API server accepts for built-in kinds.

Strategic merge is the subset kubectl and the Python client rely on: maps merge
recursively, `null` deletes, lists with a known patch merge key merge by that key, other
lists are replaced, and the `$patch: replace|delete` directive is honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.doubles.kubernetes.errors import ApiError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# patchMergeKey per list field name, from the Kubernetes OpenAPI extensions.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise ApiError(
                400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            )
        return apply_json_patch(target, patch)
    if not isinstance(patch, dict):
        raise ApiError(
            400, "json: cannot unmarshal array into Go value of type map[string]interface {}"
        )
    if media == MERGE_PATCH:
        result = apply_merge_patch(target, patch)
        assert isinstance(result, dict)
        return result
    if media == STRATEGIC_MERGE_PATCH:
        return apply_strategic_merge_patch(target, patch)
    raise ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {APPLY_PATCH}",
        "UnsupportedMediaType",
    )


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = _smp_map(target, patch)
    if not isinstance(result, dict):
        raise ApiError(422, "strategic merge patch deleted the whole object", "Invalid")
    return result


def _smp_map(target: Any, patch: dict[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    clean = {
        k: v
        for k, v in patch.items()
        if not k.startswith("$setElementOrder/") and k not in ("$patch", "$retainKeys")
    }
    if directive == "replace" or not isinstance(target, dict):
        return _strip_directives(clean)
    result = copy.deepcopy(target)
    for key, value in clean.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _smp_list(result[key], value, MERGE_KEYS[key])
        else:
            result[key] = _strip_directives(value)
    return result


def _smp_list(target: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            result.append(_strip_directives(item))
            continue
        index = next(
            (i for i, existing in enumerate(result) if existing.get(merge_key) == item[merge_key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _smp_map(result[index], item)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer {path!r}", "Invalid")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, list):
            current = current[int(token)]
        elif isinstance(current, dict) and token in current:
            current = current[token]
        else:
            raise ApiError(422, f"doc is missing path: {path!r}", "Invalid")
    return current


def apply_json_patch(target: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc: Any = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "json patch operation missing 'op' or 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("move", "copy"):
            value = _get(doc, _pointer(op["from"]), op["from"])
            if kind == "move":
                doc = _remove(doc, _pointer(op["from"]), op["from"])
            doc = _add(doc, _pointer(path), path, copy.deepcopy(value))
        elif kind == "add":
            doc = _add(doc, _pointer(path), path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, _pointer(path), path)
        elif kind == "replace":
            _get(doc, _pointer(path), path)
            doc = _remove(doc, _pointer(path), path)
            doc = _add(doc, _pointer(path), path, copy.deepcopy(op.get("value")))
        elif kind == "test":
            if _get(doc, _pointer(path), path) != op.get("value"):
                raise ApiError(422, f"testing value {path} failed", "Invalid")
        else:
            raise ApiError(400, f"Unexpected kind: {kind}")
    if not isinstance(doc, dict):
        raise ApiError(422, "json patch must leave an object", "Invalid")
    return doc


def _get(doc: Any, tokens: list[str], path: str) -> Any:
    current = doc
    for token in tokens:
        try:
            current = current[int(token)] if isinstance(current, list) else current[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"doc is missing path: {path!r}", "Invalid") from None
    return current


def _add(doc: Any, tokens: list[str], path: str, value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, tokens: list[str], path: str) -> Any:
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError):
        raise ApiError(422, f"doc is missing path: {path!r}", "Invalid") from None
    return doc
