"""Buttons on alert parents that come with playbooks: Run playbook and Silence 1 h."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.alerts import views as alert_blocks
from bot.services import Services
from handlers.replies import click_of, on_click


def register(app: AsyncApp, services: Services) -> None:
    alert_playbooks = services.alert_playbooks
    if alert_playbooks is None:
        return
    on_click(
        app,
        services,
        alert_blocks.RUN_PLAYBOOK,
        "Running the playbook",
        lambda action, body: alert_playbooks.run_clicked(action["value"], click_of(body)),
    )
    on_click(
        app,
        services,
        alert_blocks.SILENCE_ALERT,
        "Silencing the alerts",
        lambda action, body: alert_playbooks.silence(action["value"], click_of(body)),
    )
