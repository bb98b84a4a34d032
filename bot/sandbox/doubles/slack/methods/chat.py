"""chat.* — posting, updating, deleting messages; ephemerals; permalinks."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.blocks import validate_message_content
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler
from bot.sandbox.doubles.slack.workspace import Channel


def _target(ctx: ApiContext, a: Args) -> Channel:
    ref = a.req("channel", "channel_not_found")
    if ref.startswith(("U", "W")) and ref in ctx.ws.users:
        return ctx.ws.open_im(ref)
    ch = ctx.ws.channel(ref)
    if ch.is_archived:
        raise SlackError("is_archived")
    if ctx.ws.bot_user.id not in ch.members:
        raise SlackError("not_in_channel")
    return ch


def _content(a: Args, *, require: bool = True) -> dict[str, Any]:
    text = a.get("text")
    blocks = validate_message_content(
        text, a.json("blocks", "invalid_blocks_format"), a.json("attachments"), require=require
    )
    out: dict[str, Any] = {}
    if text is not None:
        out["text"] = text
    if blocks is not None:
        out["blocks"] = blocks
    attachments = a.json("attachments")
    if attachments:
        out["attachments"] = attachments
    metadata = a.json("metadata", "invalid_metadata_format")
    if metadata:
        out["metadata"] = metadata
    return out


def post_message(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = _target(ctx, a)
    data = _content(a)
    if "text" not in data:
        data["text"] = ""
    data.update(ctx.ws.bot_message_fields())
    thread_ts = a.get("thread_ts")
    if thread_ts and a.flag("reply_broadcast"):
        data["subtype"] = "thread_broadcast"
    msg = ctx.ws.store_message(ch, data, thread_ts=thread_ts)
    return {"channel": ch.id, "ts": msg.ts, "message": msg.to_dict()}


def update(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = ctx.ws.channel(a.req("channel", "channel_not_found"))
    msg = ctx.ws.message(ch, a.req("ts", "message_not_found"))
    if msg.data.get("bot_id") != ctx.ws.bot_id:
        raise SlackError("cant_update_message")
    if ch.is_archived:
        raise SlackError("is_archived")
    content = _content(a, require=False)
    if not content:
        raise SlackError("no_text")
    msg.data.update(content)
    msg.data["edited"] = {"user": ctx.ws.bot_user.id, "ts": ctx.ws.ids.new_ts()}
    out = msg.to_dict()
    return {"channel": ch.id, "ts": msg.ts, "text": out.get("text", ""), "message": out}


def delete(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = ctx.ws.channel(a.req("channel", "channel_not_found"))
    msg = ctx.ws.message(ch, a.req("ts", "message_not_found"))
    if msg.data.get("bot_id") != ctx.ws.bot_id:
        raise SlackError("cant_delete_message")
    ctx.ws.delete_message(ch, msg)
    return {"channel": ch.id, "ts": msg.ts}


def post_ephemeral(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = _target(ctx, a)
    uid = a.req("user", "user_not_found")
    ctx.ws.user(uid)
    if uid not in ch.members:
        raise SlackError("user_not_in_channel")
    data = _content(a)
    eph = ctx.ws.add_ephemeral(
        uid, ch.id, data.get("text"), data.get("blocks"), "chat.postEphemeral", a.get("thread_ts")
    )
    return {"message_ts": eph.ts}


def get_permalink(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ch = ctx.ws.channel(a.req("channel", "channel_not_found"))
    msg = ctx.ws.message(ch, a.req("message_ts", "message_not_found"))
    link = f"{ctx.ws.team.url}archives/{ch.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "chat.postMessage": post_message,
            "chat.update": update,
            "chat.delete": delete,
            "chat.postEphemeral": post_ephemeral,
            "chat.getPermalink": get_permalink,
        }
    )
