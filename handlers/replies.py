"""Delivering a `Reply`: ack now, open a form, then run the follow-up and tell the user."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.gateways.slack import SlackGateway
from bot.interaction import Click, Reply
from bot.runtime.inflight import InFlight
from bot.services import Services
from handlers.common import before_ack, explain

log = logging.getLogger(__name__)

Tell = Callable[[str], Awaitable[Any]]


async def deliver(
    reply: Reply,
    *,
    ack: AsyncAck | None,
    tell: Tell,
    slack: SlackGateway,
    trigger_id: str | None,
    what: str,
    inflight: InFlight,
) -> None:
    if ack is not None:
        if reply.text or reply.blocks:
            await ack(text=reply.text or "", blocks=reply.blocks)
        else:
            await ack()
    elif reply.text:
        await tell(reply.text)
    if reply.view is not None and trigger_id:
        try:
            await slack.open_view(trigger_id, reply.view)
        except Exception as exc:  # the form did not open: say so, nothing was changed
            await tell(explain(exc, "Opening the form"))
    if reply.save is not None:
        try:
            await reply.save()  # straight after the ack: not queued behind other work
        except Exception as exc:
            await tell(explain(exc, what))
            return
    if reply.later is not None:
        try:
            async with inflight.post_ack_slot():
                text = await reply.later()
        except Exception as exc:
            text = explain(exc, what)
        if text:
            await tell(text)


async def answer_click(
    services: Services,
    ack: AsyncAck,
    body: dict[str, Any],
    respond: AsyncRespond,
    what: str,
    make: Callable[[], Awaitable[Reply]],
) -> None:
    """A button or menu: ack at once, then do `make` (bounded before-ack work) and answer
    through the response URL, only to the person who clicked."""
    await ack()

    async def tell(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    try:
        reply = await before_ack(make())
    except Exception as exc:
        await tell(explain(exc, what))
        return
    await deliver(
        reply,
        ack=None,
        tell=tell,
        slack=services.slack,
        trigger_id=body.get("trigger_id"),
        what=what,
        inflight=services.inflight,
    )


Body = dict[str, Any]


def user_of(body: Body) -> str:
    """Who clicked."""
    return str(body["user"]["id"])


def click_of(body: Body) -> Click:
    """Who clicked, and on which message: what `bot/` checks a button's value against."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    actions = body.get("actions") or [{}]
    return Click(
        user=user_of(body),
        channel=str(channel),
        message_ts=container.get("message_ts") or message.get("ts"),
        thread_ts=message.get("thread_ts") or container.get("thread_ts"),
        trigger_id=body.get("trigger_id"),
        block_id=actions[0].get("block_id"),
        ephemeral=bool(container.get("is_ephemeral")),
    )


def on_click(
    app: AsyncApp,
    services: Services,
    action_id: str | re.Pattern[str],
    what: str,
    make: Callable[[Body, Body], Awaitable[Reply]],
) -> None:
    """Register the listener of a button or menu: `make(action, body)` answered as
    `answer_click` does, counted by `services.inflight`."""

    async def listener(ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond) -> None:
        await answer_click(services, ack, body, respond, what, lambda: make(action, body))

    app.action(action_id)(services.inflight.wrap(listener))
