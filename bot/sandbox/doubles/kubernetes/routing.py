"""Request routing: a REST path as group, version, resource, namespace, name and subresource;
the Kubernetes verb of a request; and what the API server says for an injected fault status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.sandbox.doubles.kubernetes.errors import (
    ApiError,
    conflict,
    forbidden,
    internal_error,
    not_found,
    service_unavailable,
    too_many_requests,
)


@dataclass(frozen=True)
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> Target | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return Target(
        group,
        version,
        rest[0],
        namespace,
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )


def k8s_verb(method: str, target: Target | None, query: Mapping[str, str]) -> str:
    if method == "GET":
        if target is not None and target.name is None:
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def default_error(status: int, verb: str, target: Target | None) -> ApiError:
    """What the API server would say for an injected status on this request."""
    plural = target.plural if target else ""
    group = target.group if target else ""
    name = target.name or "" if target else ""
    if status == 403:
        return forbidden(
            verb,
            plural,
            group,
            target.namespace if target else None,
            name,
            subresource=target.subresource or "" if target else "",
        )
    if status == 404:
        return not_found(plural, name, group)
    if status == 409:
        return conflict(plural, name, group)
    if status == 429:
        return too_many_requests()
    if status == 500:
        return internal_error()
    if status == 503:
        return service_unavailable()
    return ApiError(status, f"injected fault {status}")
