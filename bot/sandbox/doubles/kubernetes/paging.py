"""`limit` and `continue`: lists in pages, as kubectl's `get` (500 at a time) and informers read
them.

The continue token is shaped as the API server's (base64 of the version, the resourceVersion
and the key to start from). Unlike etcd, the double does not keep the snapshot the first page
was read from: the rest of a list is read from the current state.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from bot.sandbox.doubles.kubernetes.errors import ApiError, bad_request
from bot.sandbox.doubles.kubernetes.store import Obj


def _token(resource_version: str, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(resource_version), "start": start})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _start(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start = data["start"]
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(start, str):
            raise ValueError(start)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(
            400,
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)",
        ) from None
    return start


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def page(
    items: list[Obj], query: Mapping[str, str], resource_version: str
) -> tuple[list[Obj], Obj]:
    """At most `limit` items (in key order) from the continue token's key on, and the list
    metadata: the resourceVersion, and a token and count for the rest."""
    metadata: Obj = {"resourceVersion": resource_version}
    if query.get("continue"):
        start = _start(query["continue"])
        items = [item for item in items if _key(item) >= start]
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise bad_request(f"limit: Invalid value: {query['limit']!r}") from None
    if 0 < limit < len(items):
        rest = len(items) - limit
        items = items[:limit]
        metadata["continue"] = _token(resource_version, _key(items[-1]) + "\x00")
        metadata["remainingItemCount"] = rest
    return items, metadata
