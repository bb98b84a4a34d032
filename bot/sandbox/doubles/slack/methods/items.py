"""pins.* and reactions.* on messages."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler, bot_channel
from bot.sandbox.doubles.slack.workspace import Channel, Message

_EMOJI = re.compile(r"[a-z0-9_+\-']+(::skin-tone-[2-6])?")


def _item(ctx: ApiContext, a: Args, *, member: bool = True) -> tuple[Channel, Message]:
    ch = bot_channel(ctx, a, member=member)
    ts = a.get("timestamp")
    if ts is None:
        raise SlackError("no_item_specified")
    try:
        float(ts)
    except ValueError:
        raise SlackError("bad_timestamp") from None
    return ch, ctx.ws.message(ch, ts)


def pins_add(ctx: ApiContext, a: Args) -> dict[str, Any]:
    _, msg = _item(ctx, a)
    if msg.pinned_by:
        raise SlackError("already_pinned")
    msg.pinned_by, msg.pinned_at = ctx.ws.bot_user.id, ctx.ws.now()
    return {}


def pins_remove(ctx: ApiContext, a: Args) -> dict[str, Any]:
    _, msg = _item(ctx, a)
    if not msg.pinned_by:
        raise SlackError("no_pin")
    msg.pinned_by = msg.pinned_at = None
    return {}


def pins_list(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    pinned = sorted(
        (m for m in ch.messages.values() if m.pinned_by),
        key=lambda m: m.pinned_at or 0.0,
        reverse=True,
    )
    return {
        "items": [
            {
                "type": "message",
                "created": int(m.pinned_at or 0),
                "created_by": m.pinned_by,
                "channel": ch.id,
                "message": m.to_dict(),
            }
            for m in pinned
        ]
    }


def _name(a: Args) -> str:
    name = a.req("name", "invalid_name").strip(":")
    if not _EMOJI.fullmatch(name):
        raise SlackError("invalid_name")
    return str(name)


def reactions_add(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch, msg = _item(ctx, a, member=False)
    name = _name(a)
    if ch.is_archived:
        raise SlackError("is_archived")
    users = msg.reactions.setdefault(name, [])
    if ctx.ws.bot_user.id in users:
        raise SlackError("already_reacted")
    users.append(ctx.ws.bot_user.id)
    return {}


def reactions_remove(ctx: ApiContext, a: Args) -> dict[str, Any]:
    _, msg = _item(ctx, a, member=False)
    name = _name(a)
    users = msg.reactions.get(name, [])
    if ctx.ws.bot_user.id not in users:
        raise SlackError("no_reaction")
    users.remove(ctx.ws.bot_user.id)
    if not users:
        del msg.reactions[name]
    return {}


def reactions_get(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch, msg = _item(ctx, a, member=False)
    return {"type": "message", "channel": ch.id, "message": msg.to_dict()}


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "pins.add": pins_add,
            "pins.remove": pins_remove,
            "pins.list": pins_list,
            "reactions.add": reactions_add,
            "reactions.remove": reactions_remove,
            "reactions.get": reactions_get,
        }
    )
