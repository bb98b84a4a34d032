"""API errors rendered as the API server renders them: a meta/v1 Status with the HTTP code."""

from __future__ import annotations

from typing import Any

SERVICE_ACCOUNT_USER = "system:serviceaccount:fireline:fireline"

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def qualified_resource(plural: str, group: str) -> str:
    """`deployments.apps`, or plain `pods` for the core group."""
    return f"{plural}.{group}" if group else plural


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else _REASONS.get(code, "Unknown")
        self.details = details
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details or {})
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        if self.reason == "BadRequest":  # the API server omits reason details for these
            body.pop("details", None)
        return body


def _details(name: str, plural: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404,
        f'{qualified_resource(plural, group)} "{name}" not found',
        details=_details(name, plural, group),
    )


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        f'{qualified_resource(plural, group)} "{name}" already exists',
        "AlreadyExists",
        details=_details(name, plural, group),
    )


def conflict(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified_resource(plural, group)} "{name}": '
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
        details=_details(name, plural, group),
    )


def invalid(kind: str, name: str, group: str, field: str, detail: str) -> ApiError:
    return ApiError(
        422,
        f'{kind}.{group} "{name}" is invalid: {field}: {detail}'
        if group
        else f'{kind} "{name}" is invalid: {field}: {detail}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
        },
    )


def forbidden(
    verb: str,
    plural: str,
    group: str = "",
    namespace: str | None = None,
    name: str = "",
    user: str = SERVICE_ACCOUNT_USER,
    subresource: str = "",
) -> ApiError:
    resource = f"{plural}/{subresource}" if subresource else plural
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    target = f' "{name}"' if name else ""
    return ApiError(
        403,
        f'{qualified_resource(plural, group)}{target} is forbidden: User "{user}" cannot '
        f'{verb} resource "{resource}" in API group "{group}"{scope}',
        details=_details(name, plural, group),
    )


def too_many_requests(retry_after: int = 1) -> ApiError:
    return ApiError(
        429,
        "Too many requests, please try again later.",
        retry_after=retry_after,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def internal_error(message: str = "Internal error occurred: injected fault") -> ApiError:
    return ApiError(500, message)


def service_unavailable(
    message: str = "the server is currently unable to handle the request",
) -> ApiError:
    return ApiError(503, message)
