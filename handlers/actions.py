"""Buttons and menus on the incident card."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot import blockkit
from bot.alerts import views as alert_blocks
from bot.alerts.service import declare_form
from bot.incident import Role, Severity
from bot.incidents import views as blocks
from bot.interaction import Reply
from bot.services import Services
from handlers import messages
from handlers.replies import Body, on_click, user_of


def register(app: AsyncApp, services: Services) -> None:
    dispatcher = services.dispatcher

    def click(action_id: str, what: str, make: Callable[[Body, Body], Awaitable[Reply]]) -> None:
        on_click(app, services, action_id, what, make)

    click(
        blockkit.ACK,
        "Acknowledging",
        lambda action, body: dispatcher.acknowledge(action["value"], user_of(body)),
    )
    click(
        blockkit.TAKE_COMMAND,
        "Taking command",
        lambda action, body: dispatcher.assign(
            action["value"], user_of(body), Role.COMMANDER, user_of(body)
        ),
    )

    async def severity(action: Body, body: Body) -> Reply:
        incident_id, _, chosen = action["selected_option"]["value"].partition("|")
        return await dispatcher.set_severity(incident_id, user_of(body), Severity(chosen))

    click(blockkit.SEVERITY, "Changing severity", severity)

    async def form(
        callback_id: str, incident_id: str, title: str, label: str, submit: str, optional: bool
    ) -> Reply:
        incident = await services.store.get(incident_id)
        return Reply(view=blocks.text_modal(callback_id, incident, title, label, submit, optional))

    click(
        blockkit.POST_UPDATE,
        "Opening the update form",
        lambda action, body: form(
            blockkit.UPDATE_VIEW,
            action["value"],
            "Post an update",
            "What changed, what is next",
            "Post",
            optional=False,
        ),
    )
    click(
        blockkit.RESOLVE,
        "Opening the resolve form",
        lambda action, body: form(
            blockkit.RESOLVE_VIEW,
            action["value"],
            "Resolve incident",
            "Summary: what happened, what fixed it",
            "Resolve",
            optional=True,
        ),
    )

    async def acknowledge_alert(action: Body, body: Body) -> Reply:
        first = await services.alerts.acknowledge(action["value"], user_of(body))
        return Reply(text=None if first else messages.alert_already_acknowledged())

    click(alert_blocks.ACK_ALERT, "Acknowledging the alert", acknowledge_alert)

    async def declare_from_alert(action: Body, body: Body) -> Reply:
        channel = str(body.get("channel", {}).get("id", ""))
        return Reply(view=await declare_form(services.alerts, action["value"], channel))

    click(alert_blocks.DECLARE_FROM_ALERT, "Opening the declare form", declare_from_alert)
