"""What every Web API method handler receives, and small helpers they share."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.workspace import Channel, Workspace


@dataclass
class ApiContext:
    """The workspace plus the double's own URLs, for handlers that hand out URLs."""

    ws: Workspace
    public_url: str
    new_socket_url: Callable[[], str]


Handler = Callable[[ApiContext, Args], dict[str, Any]]
T = TypeVar("T")


def paginate(items: Sequence[T], a: Args, default_limit: int = 100) -> tuple[list[T], str]:
    """Slack cursor pagination: (page, next_cursor or "")."""
    limit = a.integer("limit", default_limit) or default_limit
    cursor = a.get("cursor")
    start = 0
    if cursor:
        try:
            start = int(base64.b64decode(cursor).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
    page = list(items[start : start + limit])
    nxt = start + limit
    next_cursor = base64.b64encode(f"offset:{nxt}".encode()).decode() if nxt < len(items) else ""
    return page, next_cursor


def bot_channel(
    ctx: ApiContext, a: Args, arg: str = "channel", *, member: bool = True, writable: bool = False
) -> Channel:
    """The conversation named by ``arg``; bot membership / not archived checked on request."""
    ch = ctx.ws.channel(a.req(arg, "channel_not_found"))
    if writable and ch.is_archived:
        raise SlackError("is_archived")
    if member and ctx.ws.bot_user.id not in ch.members:
        raise SlackError("not_in_channel")
    return ch
