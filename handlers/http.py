"""The bot's HTTP endpoints: Slack's requests, Alertmanager's webhook, liveness, readiness and
metrics.

Anyone on the network can reach these, so whatever arrives is answered with a 4xx that says
what is wrong, never a 500: a request that is not Slack's or lacks the bearer token gets 401
(whatever its headers hold), a body over the route's limit 413 (checked while reading, so a
chunked body is never buffered past it), a malformed notification 400 with the reason. What is
refused is logged by its size and the reason only: never its body or its headers.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.alerts.payload import MAX_PAYLOAD_BYTES
from bot.alerts.service import AlertThreads
from bot.errors import TemporaryError, UserError
from bot.metrics import CONTENT_TYPE, Metrics
from bot.runtime.inflight import InFlight
from handlers.signature import signature_problem

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024
"""Slack's payloads are far smaller (a modal submission is a few KB); refuse anything huge."""
MAX_ALERT_BODY = MAX_PAYLOAD_BYTES
"""The webhook's one limit, defined with the payload it bounds."""
MAX_REQUEST_BODY = 1024 * 1024
"""aiohttp's `client_max_size`: the limit for routes that read a whole body at once (the sandbox
page's JSON). The two routes above read a bounded stream instead, each with its own limit."""


def routes(
    bolt: AsyncApp,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    inflight: InFlight,
    signing_secret: SecretStr,
    metrics: Metrics | None = None,
) -> list[web.RouteDef]:
    secret = signing_secret.get_secret_value().encode()
    measured = metrics or Metrics()

    async def slack_events(request: web.Request) -> web.Response:
        if not inflight.accepting:  # shutting down: Slack retries elsewhere
            return _refused("/slack/events", request, 503, "shutting down")
        async with inflight.receiving():
            return await _dispatch(request, time.perf_counter())

    async def _dispatch(request: web.Request, arrived: float) -> web.Response:
        body = await read_at_most(request, MAX_SLACK_BODY)
        if body is None:
            return _refused("/slack/events", request, 413, "request too large")
        problem = signature_problem(
            secret,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            body,
            time.time(),
        )
        if problem is not None:
            return _refused("/slack/events", request, 401, problem, len(body))
        try:  # Bolt parses the body eagerly; a broken payload is the sender's fault
            bolt_request = AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except ValueError:
            return web.json_response({"error": "malformed Slack payload"}, status=400)
        bolt_response = await bolt.async_dispatch(bolt_request)
        response = await to_aiohttp_response(bolt_response)
        measured.ack(_kind(bolt_request.body), time.perf_counter() - arrived)
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if not inflight.accepting:  # out of the Service's endpoints while it drains
            return web.json_response({"status": "shutting down"}, status=503)
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


def alert_routes(
    alerts: AlertThreads, token: SecretStr | None, metrics: Metrics | None = None
) -> list[web.RouteDef]:
    """`POST /webhooks/alertmanager`: bearer-token auth; stored durably before the 200."""
    expected = f"Bearer {token.get_secret_value()}".encode() if token else None
    counted = (metrics or Metrics()).alert_notifications

    async def alertmanager(request: web.Request) -> web.Response:
        if expected is None or not _same(request.headers.get("Authorization", ""), expected):
            counted.labels("unauthorized").inc()
            return _refused("/webhooks/alertmanager", request, 401, "missing or wrong bearer token")
        body = await read_at_most(request, MAX_ALERT_BODY)
        if body is None:
            counted.labels("too_large").inc()
            reason = f"payload too large: the limit is {MAX_ALERT_BODY} bytes"
            return _refused("/webhooks/alertmanager", request, 413, reason)
        try:
            entry = await alerts.accept(body)
        except UserError as exc:
            counted.labels("malformed").inc()
            return web.json_response({"error": str(exc)}, status=400)
        except TemporaryError as exc:  # Alertmanager retries 5xx
            counted.labels("unavailable").inc()
            if metrics is not None:
                metrics.temporary("webhook", exc)
            return web.json_response({"error": str(exc)}, status=503)
        counted.labels("accepted").inc()
        return web.json_response({"status": "accepted", "id": entry})

    return [web.post("/webhooks/alertmanager", alertmanager)]


def metrics_routes(metrics: Metrics) -> list[web.RouteDef]:
    """`GET /metrics`: this replica's registry, unauthenticated like `/healthz` (it holds no
    secrets and no Slack, incident or user IDs; see docs/decisions/metrics.md). Figures kept in
    Redis are read first, bounded in time and at most once a second however often it is asked."""

    async def serve_metrics(_: web.Request) -> web.Response:
        await metrics.refresh()
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    return [web.get("/metrics", serve_metrics)]


def _kind(body: object) -> str:
    """What Slack delivered, for the ack histogram (`bot.metrics` bounds it)."""
    if not isinstance(body, dict):
        return "other"
    if "command" in body:
        return "command"
    kind = str(body.get("type") or "other")
    return "event" if kind == "event_callback" else kind


async def read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is known to be longer than `limit` (declared or streamed)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _same(given: str, expected: bytes) -> bool:
    """Constant-time comparison of a header with the expected bytes. Header values are `str`
    decoded by aiohttp (non-UTF-8 bytes become lone surrogates that cannot be encoded back):
    anything not ASCII is not a token we issued."""
    return given.isascii() and hmac.compare_digest(given.encode("ascii"), expected)


def _refused(
    route: str, request: web.Request, status: int, reason: str, size: int | None = None
) -> web.Response:
    """Answer a refused request; the log gets the size and the reason, never the content."""
    length = size if size is not None else request.content_length
    log.info("refused a request to %s (%s bytes): %s", route, length, reason)
    return web.json_response({"error": reason}, status=status)
