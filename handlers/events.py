"""Events API: a 📌 reaction in an incident channel puts that message on the timeline (for
those the policy lets update the incident)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import Services

PIN_REACTIONS = {"pushpin", "round_pushpin"}


def register(app: AsyncApp, services: Services) -> None:
    @app.event("reaction_added")
    @services.inflight.wrap
    async def on_reaction(event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("reaction") not in PIN_REACTIONS or item.get("type") != "message":
            return
        # A Slack retry or a second 📌 reaches here again; a pin is appended once per message.
        # Only those the policy lets update the incident pin (the others are told why).
        await services.dispatcher.pin(item["channel"], item["ts"], event["user"])

    @app.event("reaction_removed")
    @services.inflight.wrap
    async def on_reaction_removed() -> None:
        """Acknowledged so Slack does not retry; the timeline keeps what was pinned."""
