"""Delivering requests to the app exactly as Slack does: signed HTTP, or Socket Mode."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.doubles.slack.records import Delivery
from bot.sandbox.doubles.slack.socket_mode import SocketHub


@dataclass
class AppConfig:
    """Where and how the app receives requests. Mutable: tests may set it after start."""

    request_url: str | None = None
    signing_secret: str = "double-signing-secret"
    socket_mode: bool = False
    bot_events: frozenset[str] | None = None
    """Event types the app subscribes to (its manifest's `bot_events`); None: every type."""


class Deliverer:
    """Sends slash commands, interactions and events to the app and returns its answer."""

    def __init__(
        self, app: AppConfig, hub: SocketHub, signing_clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.hub = hub
        self._signing_clock = signing_clock
        self._session: aiohttp.ClientSession | None = None
        self.log: list[Delivery] = []

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def has_target(self, socket: bool | None = None) -> bool:
        """Whether anything would receive a delivery (a request URL or an open socket)."""
        use_socket = self.app.socket_mode if socket is None else socket
        return self.hub.connected > 0 if use_socket else bool(self.app.request_url)

    def sign(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(self._signing_clock()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(self.app.signing_secret)
        signature = verifier.generate_signature(timestamp=ts, body=body)
        assert signature is not None
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        socket: bool | None = None,
        accepts_response_payload: bool = False,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        bad_signature: bool = False,
    ) -> Delivery:
        use_socket = self.app.socket_mode if socket is None else socket
        if use_socket:
            result = await self.hub.deliver(
                kind,
                payload,
                accepts_response_payload=accepts_response_payload,
                retry_attempt=retry_num or 0,
                retry_reason=retry_reason if retry_num else "",
            )
        else:
            result = await self._post(kind, payload, retry_num, retry_reason, bad_signature)
        self.log.append(result)
        return result

    async def _post(
        self,
        kind: str,
        payload: dict[str, Any],
        retry_num: int | None,
        retry_reason: str,
        bad_signature: bool,
    ) -> Delivery:
        if not self.app.request_url:
            raise RuntimeError("the app's request_url is not set")
        if self._session is None:
            raise RuntimeError("the double is not started")
        if kind == "events_api":
            body, ctype = json.dumps(payload), "application/json"
        elif kind == "slash_commands":
            body, ctype = urlencode(payload), "application/x-www-form-urlencoded"
        else:
            body = urlencode({"payload": json.dumps(payload)})
            ctype = "application/x-www-form-urlencoded"
        headers = {
            "Content-Type": ctype,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.sign(body),
        }
        if bad_signature:
            headers["X-Slack-Signature"] = "v0=" + "0" * 64
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        async with self._session.post(
            self.app.request_url, data=body.encode(), headers=headers
        ) as resp:
            text = await resp.text()
            return Delivery(resp.status, text, dict(resp.headers), via="http", payload=payload)
