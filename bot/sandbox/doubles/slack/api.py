"""The ``/api/<method>`` endpoint: parsing, auth, faults, rate limits, validation, dispatch."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.sandbox.doubles.slack.args import Args, check_types
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.faults import Fault, FaultInjector
from bot.sandbox.doubles.slack.methods import ApiContext, Handler, build_handlers
from bot.sandbox.doubles.slack.ratelimit import RateLimiter
from bot.sandbox.doubles.slack.records import CallRecord
from bot.sandbox.doubles.slack.reference import MethodCatalog, MethodSpec


async def read_args(request: web.Request) -> dict[str, Any]:
    """Arguments from the query string and a form, multipart or JSON body, merged."""
    values: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return values
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise SlackError("invalid_json") from None
        if isinstance(body, dict):
            values.update(body)
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                values[key] = value
            elif isinstance(value, bytes | bytearray):
                values[key] = bytes(value)
            else:
                values[key] = value.file.read()
    return values


def bearer_token(request: web.Request, values: dict[str, Any]) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = values.get("token")
    return str(token) if token else None


class WebApi:
    """Answers Web API calls as Slack does, against a workspace."""

    def __init__(
        self,
        ctx: ApiContext,
        catalog: MethodCatalog,
        limiter: RateLimiter,
        faults: FaultInjector,
        tokens: dict[str, str],
    ) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.limiter = limiter
        self.faults = faults
        self.tokens = tokens  # token -> kind ("bot" | "app")
        self.handlers: dict[str, Handler] = build_handlers()
        self._calls: list[CallRecord] = []
        self._calls_lock = threading.Lock()
        self.listeners: list[Callable[[CallRecord], None]] = []
        """Called after every answered call (the sandbox page redraws on them)."""

    # -- records ---------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[CallRecord]:
        with self._calls_lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    def _record(
        self,
        method: str,
        values: dict[str, Any],
        token: str | None,
        status: int,
        body: dict[str, Any] | None,
    ) -> None:
        args = {k: v for k, v in values.items() if k != "token"}
        ok = bool(body and body.get("ok"))
        error = None if body is None else body.get("error")
        rec = CallRecord(method, args, self.ctx.ws.now(), status, ok, error, token)
        with self._calls_lock:
            self._calls.append(rec)
        for listener in self.listeners:
            listener(rec)

    # -- endpoint --------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            values = await read_args(request)
        except SlackError as err:
            return self._answer(method, {}, None, err.status, err.body())
        token = bearer_token(request, values)
        spec = self.catalog.get(method)
        if spec is None:
            body = {"ok": False, "error": "unknown_method", "req_method": method}
            return self._answer(method, values, token, 404, body)
        fault = self.faults.take(method)
        if fault is not None and fault.hold is not None:
            fault.hold.reached.set()
            await fault.hold.release.wait()
            fault = None
        if fault is not None and not fault.lost_answer:
            return self._fault(request, method, values, token, fault)
        try:
            status, body, headers = self._call(spec, values, token)
        except SlackError as err:
            status, body, headers = err.status, err.body(), {}
        if fault is not None:  # carried out, but the answer never reaches the caller
            self._record(method, values, token, status, body)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        return self._answer(method, values, token, status, body, headers)

    def _call(
        self, spec: MethodSpec, values: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if token is None:
            raise SlackError("not_authed")
        kind = self.tokens.get(token)
        if kind is None:
            raise SlackError("invalid_auth")
        if kind == "app" and spec.name != "apps.connections.open":
            raise SlackError("not_allowed_token_type")
        channel = values.get("channel")
        retry_after = self.limiter.check(spec, token, str(channel) if channel else None)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        for arg in spec.required:
            value = values.get(arg)
            if value is None or value == "":
                raise SlackError(
                    spec.missing_arg_error(arg),
                    response_metadata={"messages": [f"[ERROR] missing required field: {arg}"]},
                )
        bad = check_types(values, spec.arg_types)
        if bad is not None:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] invalid type for field: {bad}"]},
            )
        handler = self.handlers.get(spec.name)
        if handler is None:
            raise SlackError("not_implemented_by_double", status=501)
        with self.ctx.ws.lock:
            result = handler(self.ctx, Args(values, kind))
        return 200, {"ok": True, **result}, {}

    def _fault(
        self,
        request: web.Request,
        method: str,
        values: dict[str, Any],
        token: str | None,
        fault: Fault,
    ) -> web.StreamResponse:
        if fault.drop:
            self._record(method, values, token, 0, None)
            if request.transport is not None:
                request.transport.abort()  # the client sees the server disconnect
            return web.Response(status=500)
        if fault.error == "ratelimited" and fault.status == 200:
            return self._answer(
                method,
                values,
                token,
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.error is None:
            self._record(method, values, token, fault.status, None)
            return web.Response(status=fault.status, text="upstream error")
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        return self._answer(
            method, values, token, fault.status, {"ok": False, "error": fault.error}, headers
        )

    def _answer(
        self,
        method: str,
        values: dict[str, Any],
        token: str | None,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self._record(method, values, token, status, body)
        return web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers=headers or {},
        )
