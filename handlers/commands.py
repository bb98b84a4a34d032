"""`/incident`: parse, do the Redis part before the ack, the Slack part after it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.interaction import Actor
from bot.services import Services
from handlers import messages
from handlers.common import before_ack, explain
from handlers.replies import deliver


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/incident")
    @services.inflight.wrap
    async def incident_command(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        if not command.get("user_id") or not command.get("channel_id"):
            await ack(text="That request was incomplete; type the command again.")
            return
        actor = Actor(command["user_id"], command["channel_id"], command.get("trigger_id", ""))
        what = messages.attempted(command.get("text", ""))
        try:
            cmd = services.dispatcher.parse(command.get("text", ""))
            reply = await before_ack(services.dispatcher.command(cmd, actor))
        except Exception as exc:
            await ack(text=explain(exc, what))
            return

        async def tell(text: str) -> None:
            await respond(text=text, response_type="ephemeral", replace_original=False)

        await deliver(
            reply,
            ack=ack,
            tell=tell,
            slack=services.slack,
            trigger_id=actor.trigger_id,
            what=what,
            inflight=services.inflight,
        )
