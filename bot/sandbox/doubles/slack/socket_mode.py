"""Socket Mode: WebSocket connections handed out by apps.connections.open, envelopes, acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.doubles.slack.records import Delivery
from bot.sandbox.doubles.slack.workspace import Workspace

NO_ACK_STATUS = 0
"""``Delivery.status`` when the app did not acknowledge an envelope in time."""


class SocketHub:
    """Open Socket Mode connections of the app, and delivery of envelopes over them."""

    def __init__(self, ws: Workspace, base_url: Callable[[], str], ack_timeout: float) -> None:
        self._ws = ws
        self._base_url = base_url
        self.ack_timeout = ack_timeout
        self._issued: set[str] = set()
        self._conns: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed: asyncio.Condition | None = None
        self.envelopes: list[dict[str, Any]] = []

    def new_url(self) -> str:
        conn_id = uuid.uuid4().hex
        self._issued.add(conn_id)
        base = self._base_url().replace("http://", "ws://", 1)
        return f"{base}link/?ticket={conn_id}&app_id={self._ws.app_id}"

    @property
    def connected(self) -> int:
        return sum(1 for c in self._conns if not c.closed)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()

    async def wait_connected(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.connected > 0)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._issued:
            return web.Response(status=401, text="invalid ticket")
        self._issued.discard(ticket)
        sock = web.WebSocketResponse(autoping=True, heartbeat=None)
        await sock.prepare(request)
        await sock.send_json(
            {
                "type": "hello",
                "num_connections": self.connected + 1,
                "debug_info": {
                    "host": "applink-double",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self._ws.app_id},
            }
        )
        self._conns.append(sock)
        await self._notify()
        try:
            async for msg in sock:
                if msg.type != WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError):
                    data = json.loads(msg.data)
                    fut = self._acks.get(str(data.get("envelope_id")))
                    if fut is not None and not fut.done():
                        fut.set_result(data)
        finally:
            self._conns.remove(sock)
            await self._notify()
        return sock

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Delivery:
        live = [c for c in self._conns if not c.closed]
        if not live:
            raise RuntimeError("no Socket Mode connection is open to deliver to")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        self.envelopes.append(envelope)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = fut
        try:
            await live[-1].send_json(envelope)
            ack = await asyncio.wait_for(fut, self.ack_timeout)
        except TimeoutError:
            return Delivery(NO_ACK_STATUS, "", via="socket", payload=payload)
        finally:
            self._acks.pop(envelope_id, None)
        body = ack.get("payload")
        return Delivery(200, json.dumps(body) if body else "", via="socket", payload=payload)

    async def disconnect_all(self) -> None:
        for sock in list(self._conns):
            await sock.close()
