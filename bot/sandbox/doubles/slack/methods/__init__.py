"""Web API method handlers of the Slack double, one module per method family."""

from __future__ import annotations

from bot.sandbox.doubles.slack.methods import chat, conversations, files, items, people, views
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler


def build_handlers() -> dict[str, Handler]:
    """A fresh method-name -> handler table."""
    table: dict[str, Handler] = {}
    for module in (people, conversations, chat, items, views, files):
        module.register(table)
    return table


__all__ = ["ApiContext", "Handler", "build_handlers"]
