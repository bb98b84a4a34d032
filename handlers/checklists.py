"""Buttons on checklist and reminder messages: answer an item, snooze update reminders."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.checklists import views as checklist_blocks
from bot.checklists.models import AnswerKind
from bot.interaction import Reply
from bot.services import Services
from handlers.replies import Body, on_click, user_of

SNOOZE_ACTION = re.compile(rf"^{checklist_blocks.SNOOZE}_")


def register(app: AsyncApp, services: Services) -> None:
    followups = services.followups

    def answer(kind: AnswerKind) -> Callable[[Body, Body], Awaitable[Reply]]:
        async def make(action: Body, body: Body) -> Reply:
            incident_id, minutes, item = checklist_blocks.parse_item_value(action["value"])
            return await followups.answer(incident_id, minutes, item, user_of(body), kind)

        return make

    on_click(app, services, checklist_blocks.CHECK_DONE, "Answering the checklist", answer("done"))
    on_click(app, services, checklist_blocks.CHECK_NA, "Answering the checklist", answer("n/a"))

    async def snooze(action: Body, body: Body) -> Reply:
        incident_id, _, choice = action["value"].partition("|")
        container = body.get("container") or {}
        return await followups.snooze(
            incident_id,
            user_of(body),
            choice,
            container.get("channel_id"),
            container.get("message_ts"),
        )

    on_click(app, services, SNOOZE_ACTION, "Snoozing reminders", snooze)
