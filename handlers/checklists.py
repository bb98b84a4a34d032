"""Buttons on checklist and reminder messages: answer an item, snooze update reminders."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import checklist_blocks
from bot.dispatch import Reply
from bot.services import Services
from handlers.replies import answer_click

SNOOZE_ACTION = re.compile(rf"^{checklist_blocks.SNOOZE}_")


def register(app: AsyncApp, services: Services) -> None:
    followups = services.followups

    async def run(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        what: str,
        make: Callable[[], Awaitable[Reply]],
    ) -> None:
        await answer_click(services, ack, body, respond, what, make)

    def answer(kind: Any) -> Any:
        async def on_click(
            ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
        ) -> None:
            incident_id, minutes, item = checklist_blocks.parse_item_value(action["value"])
            user = str(body["user"]["id"])
            await run(
                ack,
                body,
                respond,
                "Answering the checklist",
                lambda: followups.answer(incident_id, minutes, item, user, kind),
            )

        return on_click

    app.action(checklist_blocks.CHECK_DONE)(services.inflight.wrap(answer("done")))
    app.action(checklist_blocks.CHECK_NA)(services.inflight.wrap(answer("n/a")))

    @app.action(SNOOZE_ACTION)
    @services.inflight.wrap
    async def on_snooze(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        incident_id, _, choice = action["value"].partition("|")
        container = body.get("container") or {}
        await run(
            ack,
            body,
            respond,
            "Snoozing reminders",
            lambda: followups.snooze(
                incident_id,
                str(body["user"]["id"]),
                choice,
                container.get("channel_id"),
                container.get("message_ts"),
            ),
        )
