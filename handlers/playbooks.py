"""Buttons on alert parents that come with playbooks: Run playbook and Silence 1 h."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import alert_blocks
from bot.dispatch import Reply
from bot.services import Services
from handlers.replies import answer_click


def register(app: AsyncApp, services: Services) -> None:
    alert_playbooks = services.alert_playbooks
    if alert_playbooks is None:
        return

    async def click(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        what: str,
        make: Callable[[], Awaitable[Reply]],
    ) -> None:
        await answer_click(services, ack, body, respond, what, make)

    @app.action(alert_blocks.RUN_PLAYBOOK)
    @services.inflight.wrap
    async def on_run_playbook(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        user = str(body["user"]["id"])
        await click(
            ack,
            body,
            respond,
            "Running the playbook",
            lambda: alert_playbooks.run_clicked(action["value"], user),
        )

    @app.action(alert_blocks.SILENCE_ALERT)
    @services.inflight.wrap
    async def on_silence(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        user = str(body["user"]["id"])
        await click(
            ack,
            body,
            respond,
            "Silencing the alerts",
            lambda: alert_playbooks.silence(action["value"], user),
        )
