"""conversations.* — channels, DMs, membership, history."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler, bot_channel, paginate
from bot.sandbox.doubles.slack.workspace import Channel, Message

MAX_NAME = 80
_VALID_NAME = re.compile(r"[a-z0-9_\-]+")


def validate_channel_name(name: str) -> None:
    """Slack's channel naming rules, with its error codes."""
    if not name.strip():
        raise SlackError("invalid_name_required")
    if len(name) > MAX_NAME:
        raise SlackError("invalid_name_maxlength")
    if not _VALID_NAME.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")


def _info(ctx: ApiContext, ch: Channel) -> dict[str, Any]:
    return ch.to_dict(ctx.ws.bot_user.id)


def create(ctx: ApiContext, a: Args) -> dict[str, Any]:
    name = a.get("name") or ""
    validate_channel_name(name)
    if any(c.name == name for c in ctx.ws.channels.values()):
        raise SlackError("name_taken")
    ch = ctx.ws.add_channel(name, is_private=a.flag("is_private"), members=[ctx.ws.bot_user.id])
    return {"channel": _info(ctx, ch)}


def info(ctx: ApiContext, a: Args) -> dict[str, Any]:
    return {"channel": _info(ctx, bot_channel(ctx, a, member=False))}


def list_(ctx: ApiContext, a: Args) -> dict[str, Any]:
    types = set(a.csv("types") or ["public_channel"])
    exclude_archived = a.flag("exclude_archived")
    bot = ctx.ws.bot_user.id

    def kind(c: Channel) -> str:
        if c.is_im:
            return "im"
        if c.is_mpim:
            return "mpim"
        return "private_channel" if c.is_private else "public_channel"

    chans = [
        _info(ctx, c)
        for c in ctx.ws.channels.values()
        if kind(c) in types
        and not (exclude_archived and c.is_archived)
        and (kind(c) == "public_channel" or bot in c.members)
    ]
    page, cursor = paginate(chans, a, 100)
    return {"channels": page, "response_metadata": {"next_cursor": cursor}}


def _set_text(attr: str) -> Handler:
    def handler(ctx: ApiContext, a: Args) -> dict[str, Any]:
        ch = bot_channel(ctx, a, writable=True)
        setattr(ch, attr, a.get(attr) or "")
        ctx.ws.store_message(
            ch,
            {
                "subtype": f"channel_{attr}",
                attr: getattr(ch, attr),
                "user": ctx.ws.bot_user.id,
                "text": f"set the channel {attr}: {getattr(ch, attr)}",
            },
        )
        return {"channel": _info(ctx, ch)}

    return handler


def invite(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    if ch.is_archived:
        raise SlackError("is_archived")
    if ctx.ws.bot_user.id not in ch.members:
        raise SlackError("not_in_channel")
    if ch.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    user_ids = a.csv("users")
    if not user_ids:
        raise SlackError("no_user")
    for uid in user_ids:
        if uid == ctx.ws.bot_user.id:
            raise SlackError("cant_invite_self")
        ctx.ws.user(uid)
        if uid in ch.members:
            raise SlackError("already_in_channel")
    for uid in user_ids:
        ch.members.append(uid)
        ctx.ws.store_message(
            ch, {"subtype": "channel_join", "user": uid, "text": f"<@{uid}> has joined the channel"}
        )
    return {"channel": _info(ctx, ch)}


def join(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    if ch.is_archived:
        raise SlackError("is_archived")
    bot = ctx.ws.bot_user.id
    out: dict[str, Any] = {}
    if bot in ch.members:
        out["warning"] = "already_in_channel"
    elif ch.is_private or ch.is_im or ch.is_mpim:
        raise SlackError("method_not_supported_for_channel_type")
    else:
        ch.members.append(bot)
    out["channel"] = _info(ctx, ch)
    return out


def members(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    page, cursor = paginate(ch.members, a, 100)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def archive(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    if ch.is_archived:
        raise SlackError("already_archived")
    if ch.is_general:
        raise SlackError("cant_archive_general")
    if ch.is_im or ch.is_mpim:
        raise SlackError("method_not_supported_for_channel_type")
    if ctx.ws.bot_user.id not in ch.members:
        raise SlackError("not_in_channel")
    ch.is_archived = True
    return {}


def unarchive(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a, member=False)
    if not ch.is_archived:
        raise SlackError("not_archived")
    ch.is_archived = False
    return {}


def kick(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a)
    uid = a.req("user", "user_not_found")
    if uid == ctx.ws.bot_user.id:
        raise SlackError("cant_kick_self")
    ctx.ws.user(uid)
    if ch.is_general:
        raise SlackError("cant_kick_from_general")
    if uid not in ch.members:
        raise SlackError("not_in_channel")
    ch.members.remove(uid)
    return {}


def open_(ctx: ApiContext, a: Args) -> dict[str, Any]:
    if a.has("channel"):
        ch = ctx.ws.channel(a.req("channel"))
    else:
        user_ids = a.csv("users")
        if not user_ids:
            raise SlackError("users_list_not_supplied")
        for uid in user_ids:
            ctx.ws.user(uid)
        if len(user_ids) > 8:
            raise SlackError("too_many_users")
        ch = ctx.ws.open_im(user_ids[0]) if len(user_ids) == 1 else ctx.ws.open_mpim(user_ids)
    if a.flag("return_im"):
        return {"channel": _info(ctx, ch)}
    return {"channel": {"id": ch.id}}


def _window(msgs: list[Message], a: Args) -> list[Message]:
    latest, oldest = a.get("latest"), a.get("oldest")
    inclusive = a.flag("inclusive")
    out = []
    for m in msgs:
        t = float(m.ts)
        if latest and (t > float(latest) or (t == float(latest) and not inclusive)):
            continue
        if oldest and (t < float(oldest) or (t == float(oldest) and not inclusive)):
            continue
        out.append(m)
    return out


def _shown(m: Message, a: Args) -> dict[str, Any]:
    """A message as history/replies return it: metadata only with `include_all_metadata`."""
    out = m.to_dict()
    if not a.flag("include_all_metadata"):
        out.pop("metadata", None)
    return out


def history(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a)
    top = [
        m
        for m in ch.messages.values()
        if not m.is_reply or m.data.get("subtype") == "thread_broadcast"
    ]
    msgs = sorted(_window(top, a), key=lambda m: float(m.ts), reverse=True)
    page, cursor = paginate(msgs, a, 100)
    return {
        "messages": [_shown(m, a) for m in page],
        "has_more": bool(cursor),
        "pin_count": sum(1 for m in ch.messages.values() if m.pinned_by),
        "response_metadata": {"next_cursor": cursor},
    }


def replies(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = bot_channel(ctx, a)
    ts = a.req("ts", "thread_not_found")
    parent = ctx.ws.message(ch, ts, "thread_not_found")
    root = ch.messages.get(parent.thread_ts or "", parent) if parent.is_reply else parent
    thread = [root] + [ch.messages[r] for r in root.replies if r in ch.messages]
    page, cursor = paginate(_window(thread, a), a, 1000)
    return {
        "messages": [_shown(m, a) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "conversations.create": create,
            "conversations.info": info,
            "conversations.list": list_,
            "conversations.setTopic": _set_text("topic"),
            "conversations.setPurpose": _set_text("purpose"),
            "conversations.invite": invite,
            "conversations.join": join,
            "conversations.members": members,
            "conversations.archive": archive,
            "conversations.unarchive": unarchive,
            "conversations.kick": kick,
            "conversations.open": open_,
            "conversations.history": history,
            "conversations.replies": replies,
        }
    )
