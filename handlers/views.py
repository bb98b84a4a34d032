"""Form submissions: declare, post update, resolve."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import blockkit
from bot.commands import messages as commands_messages
from bot.errors import FirelineError, UserError
from bot.incident import MAX_TITLE, Severity
from bot.incidents import views as blocks
from bot.interaction import Actor
from bot.services import Services
from handlers import messages
from handlers.common import before_ack, explain
from handlers.replies import deliver


def _value(view: dict[str, Any], block_id: str) -> Any:
    element = view["state"]["values"].get(block_id, {}).get("value", {})
    if element.get("type") == "static_select":
        option = element.get("selected_option") or {}
        return option.get("value")
    if element.get("type") == "users_select":
        return element.get("selected_user")
    value = element.get("value")
    return value.strip() if isinstance(value, str) and value.strip() else None


def register(app: AsyncApp, services: Services) -> None:
    dispatcher = services.dispatcher
    slack = services.slack

    def teller(user: str, channel: str | None) -> Any:
        async def tell(text: str) -> None:
            # Forms have no response URL: whisper in the channel, or DM if the bot is not there.
            if channel:
                try:
                    await slack.post_ephemeral(channel, user, text)
                    return
                except FirelineError:
                    pass  # e.g. the bot is not in that channel: fall back to a DM
            await slack.post_message(user, text)

        return tell

    @app.view(blockkit.DECLARE_VIEW)
    @services.inflight.wrap
    async def on_declare(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        title = _value(view, "title")
        if not title:
            await ack(response_action="errors", errors={"title": messages.modal_title_missing()})
            return
        if len(title) > MAX_TITLE:
            await ack(
                response_action="errors",
                errors={"title": commands_messages.title_too_long(len(title), MAX_TITLE)},
            )
            return
        severity = Severity(_value(view, "severity") or "P2")
        channel, alert_group = blocks.declare_origin(view.get("private_metadata", ""))
        actor = Actor(user, channel or user, view["id"])
        tell = teller(user, channel)
        try:
            reply = await before_ack(
                dispatcher.declare(
                    actor,
                    title=title,
                    severity=severity,
                    defaulted=False,
                    request_key=view["id"],
                    service=_value(view, "service"),
                    description=_value(view, "description"),
                    commander=_value(view, "commander"),
                    alert_group=alert_group,
                )
            )
        except UserError as exc:
            await ack(response_action="errors", errors={"title": str(exc)})
            return
        except Exception as exc:
            await ack()
            await tell(explain(exc, "Declaring the incident"))
            return
        await deliver(
            reply,
            ack=ack,
            tell=tell,
            slack=slack,
            trigger_id=None,
            what="Declaring the incident",
            inflight=services.inflight,
        )

    async def text_form(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], what: str, make: Any
    ) -> None:
        user = body["user"]["id"]
        incident_id = view.get("private_metadata", "")
        text = _value(view, "text")
        try:
            incident = await before_ack(services.store.get(incident_id))
        except Exception as exc:
            await ack(response_action="errors", errors={"text": explain(exc, what)})
            return
        await ack()
        tell = teller(user, incident.channel_id)
        try:
            reply = await make(incident.id, user, text)
        except Exception as exc:
            await tell(explain(exc, what))
            return
        await deliver(
            reply,
            ack=None,
            tell=tell,
            slack=slack,
            trigger_id=None,
            what=what,
            inflight=services.inflight,
        )

    @app.view(blockkit.UPDATE_VIEW)
    @services.inflight.wrap
    async def on_update(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not _value(view, "text"):
            await ack(response_action="errors", errors={"text": "Write the update first."})
            return
        await text_form(ack, body, view, "Posting the update", dispatcher.status_update)

    @app.view(blockkit.RESOLVE_VIEW)
    @services.inflight.wrap
    async def on_resolve(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await text_form(ack, body, view, "Resolving", dispatcher.resolve)
