"""The bot's HTTP endpoints: Slack's requests, liveness and readiness."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.alerts.service import AlertThreads
from bot.errors import TemporaryError, UserError
from bot.runtime.inflight import InFlight

MAX_SLACK_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse anything huge
MAX_ALERT_BODY = 4 * 1024 * 1024


def routes(
    bolt: AsyncApp, ready: Callable[[], Awaitable[dict[str, bool]]], inflight: InFlight
) -> list[web.RouteDef]:
    async def slack_events(request: web.Request) -> web.Response:
        async with inflight.receiving():
            return await _dispatch(request)

    async def _dispatch(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_SLACK_BODY:
            return web.json_response({"error": "request too large"}, status=413)
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # Bolt parses the body eagerly; a broken payload is the sender's fault
            return web.json_response({"error": "malformed Slack payload"}, status=400)
        bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await ready()
        ok = all(checks.values())
        return web.json_response(
            {"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503
        )

    return [
        web.post("/slack/events", slack_events),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
    ]


def alert_routes(alerts: AlertThreads, token: SecretStr | None) -> list[web.RouteDef]:
    """`POST /webhooks/alertmanager`: bearer-token auth; stored durably before the 200."""

    async def alertmanager(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}" if token else None
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        if request.content_length and request.content_length > MAX_ALERT_BODY:
            return web.json_response({"error": "payload too large"}, status=413)
        try:
            entry = await alerts.accept(await request.read())
        except UserError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except TemporaryError as exc:  # Alertmanager retries 5xx
            return web.json_response({"error": str(exc)}, status=503)
        return web.json_response({"status": "accepted", "id": entry})

    return [web.post("/webhooks/alertmanager", alertmanager)]
