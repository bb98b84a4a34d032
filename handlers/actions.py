"""Buttons and menus on the incident card and on alert messages.

A button's value only names what it is about; `bot.commands.clicks` checks it against the
place it was clicked and the clicker against the policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot import blockkit
from bot.alerts import views as alert_blocks
from bot.interaction import Click, Reply
from bot.services import Services
from handlers import messages
from handlers.replies import Body, click_of, on_click


def register(app: AsyncApp, services: Services) -> None:
    dispatcher = services.dispatcher

    def click(action_id: str, what: str, make: Callable[[Click, str], Awaitable[Reply]]) -> None:
        on_click(app, services, action_id, what, lambda a, body: make(click_of(body), a["value"]))

    click(blockkit.ACK, "Acknowledging", dispatcher.acknowledge_click)
    click(blockkit.TAKE_COMMAND, "Taking command", dispatcher.take_command)
    click(blockkit.POST_UPDATE, "Opening the update form", dispatcher.update_form)
    click(blockkit.RESOLVE, "Opening the resolve form", dispatcher.resolve_form)

    async def severity(action: Body, body: Body) -> Reply:
        chosen = str((action.get("selected_option") or {}).get("value") or "")
        return await dispatcher.severity_click(click_of(body), chosen)

    on_click(app, services, blockkit.SEVERITY, "Changing severity", severity)

    async def acknowledge_alert(clicked: Click, group_id: str) -> Reply:
        first = await dispatcher.acknowledge_alert(clicked, group_id)
        return Reply(text=None if first else messages.alert_already_acknowledged())

    click(alert_blocks.ACK_ALERT, "Acknowledging the alert", acknowledge_alert)
    click(
        alert_blocks.DECLARE_FROM_ALERT, "Opening the declare form", dispatcher.declare_from_alert
    )
