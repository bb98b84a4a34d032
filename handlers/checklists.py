"""Buttons on checklist and reminder messages: answer an item, snooze update reminders."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.checklists import views as checklist_blocks
from bot.checklists.models import AnswerKind
from bot.interaction import Reply
from bot.services import Services
from handlers.replies import Body, click_of, on_click

SNOOZE_ACTION = re.compile(rf"^{checklist_blocks.SNOOZE}_")


def register(app: AsyncApp, services: Services) -> None:
    dispatcher = services.dispatcher

    def answer(kind: AnswerKind) -> Callable[[Body, Body], Awaitable[Reply]]:
        async def make(action: Body, body: Body) -> Reply:
            return await dispatcher.answer_checklist(click_of(body), action["value"], kind)

        return make

    on_click(app, services, checklist_blocks.CHECK_DONE, "Answering the checklist", answer("done"))
    on_click(app, services, checklist_blocks.CHECK_NA, "Answering the checklist", answer("n/a"))

    async def snooze(action: Body, body: Body) -> Reply:
        return await dispatcher.snooze(click_of(body), action["value"])

    on_click(app, services, SNOOZE_ACTION, "Snoozing reminders", snooze)
