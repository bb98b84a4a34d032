"""What users do in Slack that reaches the app: commands, clicks, submissions, events."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from bot.sandbox.doubles.slack import payloads as p
from bot.sandbox.doubles.slack.blocks import validate_view
from bot.sandbox.doubles.slack.delivery import Deliverer
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.views import new_view, render_view, replace_view
from bot.sandbox.doubles.slack.records import Delivery
from bot.sandbox.doubles.slack.response_urls import ResponseTarget, ResponseUrls
from bot.sandbox.doubles.slack.server import DoubleServer
from bot.sandbox.doubles.slack.workspace import Channel, Workspace

T = TypeVar("T")


class InteractionsMixin:
    """User-side actions of :class:`SlackDouble`; each delivers to the app like Slack does.

    ``socket`` chooses the transport per call (None: the double's default).
    """

    ws: Workspace
    _deliverer: Deliverer
    _responses: ResponseUrls
    _server: DoubleServer

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run on the double's loop (it may live in another thread)."""
        loop = self._server.loop
        if loop is None or loop is asyncio.get_running_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def _apply_ack(self, result: Delivery, target: ResponseTarget, source: str) -> None:
        if not result.ok or not result.body:
            return
        body = result.json
        if body is None:
            body = {"text": result.body}
        if not any(k in body for k in ("text", "blocks", "attachments")):
            return
        try:
            with self.ws.lock:
                self._responses.apply(target, body, source)
        except SlackError as err:
            result.ack_error = err.code

    # -- slash commands ----------------------------------------------------------------------
    async def slash_command(
        self,
        user_id: str,
        channel_id: str,
        text: str = "",
        command: str = "/incident",
        *,
        socket: bool | None = None,
        bad_signature: bool = False,
    ) -> Delivery:
        with self.ws.lock:
            user, channel = self.ws.user(user_id), self.ws.channel(channel_id)
            target = ResponseTarget(user.id, channel.id)
            form = p.slash_command_form(
                self.ws,
                user,
                channel,
                command,
                text,
                self._responses.issue(target),
                self.ws.issue_trigger(user.id),
            )
        result = await self._on_loop(
            self._deliverer.deliver(
                "slash_commands",
                form,
                socket=socket,
                accepts_response_payload=True,
                bad_signature=bad_signature,
            )
        )
        self._apply_ack(result, target, "slash_command_ack")
        return result

    # -- block actions on messages -----------------------------------------------------------
    def _source_message(self, channel: Channel, message_ts: str) -> tuple[dict[str, Any], bool]:
        if message_ts in channel.messages:
            return channel.messages[message_ts].to_dict(), False
        for eph in self.ws.ephemerals:
            if eph.ts == message_ts and eph.channel_id == channel.id:
                msg: dict[str, Any] = {"type": "message", "ts": eph.ts, "text": eph.text or ""}
                if eph.blocks is not None:
                    msg["blocks"] = eph.blocks
                return msg, True
        raise SlackError("message_not_found")

    async def _message_action(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        block_id: str | None,
        *,
        value: str | None = None,
        selected_values: list[str] | None = None,
        message: dict[str, Any] | None = None,
        socket: bool | None = None,
        bad_signature: bool = False,
    ) -> Delivery:
        with self.ws.lock:
            user, channel = self.ws.user(user_id), self.ws.channel(channel_id)
            stored, ephemeral = self._source_message(channel, message_ts)
            seen = message if message is not None else stored
            bid, element = p.find_element(seen.get("blocks") or [], action_id, block_id)
            selected = (
                _pick_options(element, selected_values) if selected_values is not None else None
            )
            action, state = p.action_from_element(
                bid, element, self.ws.ids.new_ts(), value=value, selected=selected
            )
            target = ResponseTarget(user.id, channel.id, message_ts, ephemeral)
            payload = p.block_actions_payload(
                self.ws,
                user,
                channel,
                seen,
                [action],
                {bid: {action_id: state}} if state else {},
                self._responses.issue(target),
                self.ws.issue_trigger(user.id),
                is_ephemeral=ephemeral,
            )
        return await self._on_loop(
            self._deliverer.deliver(
                "interactive", payload, socket=socket, bad_signature=bad_signature
            )
        )

    async def click_button(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        *,
        message: dict[str, Any] | None = None,
        socket: bool | None = None,
        bad_signature: bool = False,
    ) -> Delivery:
        """Click a button of the stored message (or of ``message``, an older copy of it)."""
        return await self._message_action(
            user_id,
            channel_id,
            message_ts,
            action_id,
            block_id,
            value=value,
            message=message,
            socket=socket,
            bad_signature=bad_signature,
        )

    async def select_option(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str,
        block_id: str | None = None,
        *,
        message: dict[str, Any] | None = None,
        socket: bool | None = None,
    ) -> Delivery:
        return await self._message_action(
            user_id,
            channel_id,
            message_ts,
            action_id,
            block_id,
            selected_values=[value],
            message=message,
            socket=socket,
        )

    async def check_boxes(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        values: list[str],
        block_id: str | None = None,
        *,
        message: dict[str, Any] | None = None,
        socket: bool | None = None,
    ) -> Delivery:
        """Leave exactly ``values`` checked in a ``checkboxes`` element."""
        return await self._message_action(
            user_id,
            channel_id,
            message_ts,
            action_id,
            block_id,
            selected_values=values,
            message=message,
            socket=socket,
        )

    # -- views -------------------------------------------------------------------------------
    async def click_view_button(
        self,
        user_id: str,
        view_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        *,
        socket: bool | None = None,
    ) -> Delivery:
        with self.ws.lock:
            user, view = self.ws.user(user_id), self.ws.views[view_id]
            rendered = render_view(self.ws, view)
            bid, element = p.find_element(rendered["blocks"], action_id, block_id)
            action, _ = p.action_from_element(bid, element, self.ws.ids.new_ts(), value=value)
            payload = p.block_actions_payload(
                self.ws,
                user,
                None,
                None,
                [action],
                view.state_values,
                None,
                self.ws.issue_trigger(user.id),
                view=rendered,
            )
        return await self._on_loop(self._deliverer.deliver("interactive", payload, socket=socket))

    async def submit_view(
        self,
        user_id: str,
        view_id: str,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        socket: bool | None = None,
        bad_signature: bool = False,
    ) -> Delivery:
        """Submit the open modal ``view_id`` with ``{block_id: {action_id: value}}`` state."""
        with self.ws.lock:
            user = self.ws.user(user_id)
            stack = self.ws.view_stacks.get(user_id, [])
            if view_id not in stack:
                raise LookupError(f"view {view_id} is not open for {user_id}")
            view = self.ws.views[view_id]
            view.state_values = p.normalize_values(values or {})
            payload = p.view_submission_payload(
                self.ws, user, render_view(self.ws, view), self.ws.issue_trigger(user.id)
            )
        result = await self._on_loop(
            self._deliverer.deliver(
                "interactive",
                payload,
                socket=socket,
                accepts_response_payload=True,
                bad_signature=bad_signature,
            )
        )
        if result.ok:
            with self.ws.lock:
                self._apply_view_answer(user_id, view_id, result)
        return result

    def close_view(self, user_id: str, view_id: str) -> None:
        """The user presses the modal's close button: the whole stack closes, as in Slack
        (the app hears of it only with ``notify_on_close``, which Fireline does not set)."""
        with self.ws.lock:
            stack = self.ws.view_stacks.get(user_id, [])
            if view_id not in stack:
                raise LookupError(f"view {view_id} is not open for {user_id}")
            stack.clear()

    def _apply_view_answer(self, user_id: str, view_id: str, result: Delivery) -> None:
        stack = self.ws.view_stacks.setdefault(user_id, [])
        body = result.json or {}
        action = result.response_action
        try:
            if action == "errors":
                return
            if action == "clear":
                stack.clear()
            elif action == "update":
                replace_view(self.ws, self.ws.views[view_id], validate_view(body.get("view")))
            elif action == "push":
                data = validate_view(body.get("view"))
                view = new_view(self.ws, user_id, data, root=stack[0], previous=stack[-1])
                stack.append(view.id)
            elif view_id in stack:
                stack.remove(view_id)
        except SlackError as err:
            result.ack_error = err.code

    # -- events ------------------------------------------------------------------------------
    async def send_event(
        self,
        event: dict[str, Any],
        retry_num: int | None = None,
        *,
        event_id: str | None = None,
        retry_reason: str = "http_timeout",
        socket: bool | None = None,
        bad_signature: bool = False,
    ) -> Delivery:
        """Deliver ``event`` in an ``event_callback`` envelope (reuse ``event_id`` on retries)."""
        with self.ws.lock:
            event = dict(event)
            event.setdefault("event_ts", self.ws.ids.new_ts())
            envelope = p.event_envelope(
                self.ws, event, event_id or self.ws.ids.new_id("Ev"), int(self.ws.now())
            )
        return await self._on_loop(
            self._deliverer.deliver(
                "events_api",
                envelope,
                socket=socket,
                retry_num=retry_num,
                retry_reason=retry_reason,
                bad_signature=bad_signature,
            )
        )

    async def url_verification(self, challenge: str = "double-challenge") -> Delivery:
        body = {"token": p.VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return await self._on_loop(self._deliverer.deliver("events_api", body, socket=False))


def _pick_options(element: dict[str, Any], values: list[str]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    by_value = {o.get("value"): o for o in options}
    missing = [v for v in values if v not in by_value]
    if missing:
        raise LookupError(f"options {missing} not in element {element.get('action_id')!r}")
    return [by_value[v] for v in values]
