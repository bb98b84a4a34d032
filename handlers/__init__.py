"""Slack and HTTP glue: parse, ack within 3 seconds, call `bot/`, render. No domain logic here.

`register()` wires every listener onto the AsyncApp it is given; there is no module-level app.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import actions, checklists, commands, events, playbooks, remediation, views


def register(app: AsyncApp, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    checklists.register(app, services)
    views.register(app, services)
    events.register(app, services)
    remediation.register(app, services)
    playbooks.register(app, services)
