"""``response_url`` endpoints hosted by the double, and how app answers change messages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.sandbox.doubles.slack.blocks import validate_message_content
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.records import Ephemeral, ResponseUrlPost
from bot.sandbox.doubles.slack.workspace import Workspace

MAX_USES = 5


@dataclass
class ResponseTarget:
    """Where answers to one interaction go: the user, channel and (maybe) source message."""

    user_id: str
    channel_id: str
    message_ts: str | None = None
    is_ephemeral: bool = False
    uses: int = 0


class ResponseUrls:
    """Issues response_urls and applies what the app posts to them (or acks with)."""

    def __init__(self, ws: Workspace, base_url: Callable[[], str]) -> None:
        self._ws = ws
        self._base_url = base_url
        self._targets: dict[str, ResponseTarget] = {}
        self.posts: list[ResponseUrlPost] = []
        self.listeners: list[Callable[[ResponseUrlPost], None]] = []

    def issue(self, target: ResponseTarget) -> str:
        key = uuid.uuid4().hex
        self._targets[key] = target
        return f"{self._base_url()}response/{key}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = self._targets.get(request.match_info["key"])
        if target is None or target.uses >= MAX_USES:
            return web.Response(status=404, text="expired_url")
        raw = await request.text()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        target.uses += 1
        post = ResponseUrlPost(str(request.url), body, self._ws.now())
        self.posts.append(post)
        try:
            with self._ws.lock:
                self.apply(target, body, "response_url")
        except SlackError as err:
            return web.Response(status=400, text=err.code)
        for listener in self.listeners:
            listener(post)
        return web.json_response({"ok": True})

    def apply(self, target: ResponseTarget, body: dict[str, Any], source: str) -> None:
        """Apply an app answer (response_url POST or ack body) the way Slack renders it."""
        ws = self._ws
        channel = ws.channels.get(target.channel_id)
        if body.get("delete_original"):
            self._delete_original(target)
            return
        text = body.get("text")
        blocks = validate_message_content(text, body.get("blocks"), body.get("attachments"))
        content: dict[str, Any] = {"text": text or ""}
        if blocks is not None:
            content["blocks"] = blocks
        if body.get("replace_original") and target.message_ts:
            if target.is_ephemeral:
                self._replace_ephemeral(target, text, blocks, source)
            elif channel is not None and target.message_ts in channel.messages:
                msg = channel.messages[target.message_ts]
                msg.data.update(content)
                if blocks is None:
                    msg.data.pop("blocks", None)
            return
        thread_ts = body.get("thread_ts")
        if body.get("response_type") == "in_channel" and channel is not None:
            ws.store_message(
                channel,
                {**content, **ws.bot_message_fields()},
                thread_ts=str(thread_ts) if thread_ts else None,
            )
            return
        ws.add_ephemeral(
            target.user_id,
            target.channel_id,
            text,
            blocks,
            source,
            str(thread_ts) if thread_ts else None,
        )

    def _delete_original(self, target: ResponseTarget) -> None:
        ws = self._ws
        if target.is_ephemeral:
            ws.ephemerals[:] = [e for e in ws.ephemerals if e.ts != target.message_ts]
            return
        channel = ws.channels.get(target.channel_id)
        if channel is not None and target.message_ts in channel.messages:
            ws.delete_message(channel, channel.messages[target.message_ts])

    def _replace_ephemeral(
        self,
        target: ResponseTarget,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        source: str,
    ) -> None:
        ws = self._ws
        for i, eph in enumerate(ws.ephemerals):
            if eph.ts == target.message_ts:
                ws.ephemerals[i] = Ephemeral(
                    eph.user_id, eph.channel_id, text, blocks, source, eph.ts, eph.thread_ts
                )
                return
