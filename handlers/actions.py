"""Buttons and menus on the incident card."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import alert_blocks, blocks, messages
from bot.alert_threads import declare_form
from bot.dispatch import Reply
from bot.incident import Role, Severity
from bot.services import Services
from handlers.replies import answer_click


def register(app: AsyncApp, services: Services) -> None:
    dispatcher = services.dispatcher

    async def run(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        what: str,
        make: Callable[[], Awaitable[Reply]],
    ) -> None:
        await answer_click(services, ack, body, respond, what, make)

    def user_of(body: dict[str, Any]) -> str:
        return str(body["user"]["id"])

    @app.action(blocks.ACK)
    @services.inflight.wrap
    async def on_ack(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await run(
            ack,
            body,
            respond,
            "Acknowledging",
            lambda: dispatcher.acknowledge(action["value"], user_of(body)),
        )

    @app.action(blocks.TAKE_COMMAND)
    @services.inflight.wrap
    async def on_take_command(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        user = user_of(body)
        await run(
            ack,
            body,
            respond,
            "Taking command",
            lambda: dispatcher.assign(action["value"], user, Role.COMMANDER, user),
        )

    @app.action(blocks.SEVERITY)
    @services.inflight.wrap
    async def on_severity(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        incident_id, _, severity = action["selected_option"]["value"].partition("|")
        await run(
            ack,
            body,
            respond,
            "Changing severity",
            lambda: dispatcher.set_severity(incident_id, user_of(body), Severity(severity)),
        )

    async def form(
        callback_id: str, incident_id: str, title: str, label: str, submit: str, optional: bool
    ) -> Reply:
        incident = await services.store.get(incident_id)
        return Reply(view=blocks.text_modal(callback_id, incident, title, label, submit, optional))

    @app.action(blocks.POST_UPDATE)
    @services.inflight.wrap
    async def on_post_update(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await run(
            ack,
            body,
            respond,
            "Opening the update form",
            lambda: form(
                blocks.UPDATE_VIEW,
                action["value"],
                "Post an update",
                "What changed, what is next",
                "Post",
                optional=False,
            ),
        )

    @app.action(blocks.RESOLVE)
    @services.inflight.wrap
    async def on_resolve(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await run(
            ack,
            body,
            respond,
            "Opening the resolve form",
            lambda: form(
                blocks.RESOLVE_VIEW,
                action["value"],
                "Resolve incident",
                "Summary: what happened, what fixed it",
                "Resolve",
                optional=True,
            ),
        )

    @app.action(alert_blocks.ACK_ALERT)
    @services.inflight.wrap
    async def on_alert_ack(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        async def acknowledge() -> Reply:
            first = await services.alerts.acknowledge(action["value"], user_of(body))
            return Reply(text=None if first else messages.alert_already_acknowledged())

        await run(ack, body, respond, "Acknowledging the alert", acknowledge)

    @app.action(alert_blocks.DECLARE_FROM_ALERT)
    @services.inflight.wrap
    async def on_declare_from_alert(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        async def form() -> Reply:
            channel = str(body.get("channel", {}).get("id", ""))
            return Reply(view=await declare_form(services.alerts, action["value"], channel))

        await run(ack, body, respond, "Opening the declare form", form)
