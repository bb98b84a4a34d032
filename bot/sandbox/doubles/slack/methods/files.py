"""files.* — the v2 upload flow (getUploadURLExternal, upload, completeUploadExternal), info."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler
from bot.sandbox.doubles.slack.workspace import StoredFile

MAX_FILE_BYTES = 1024 * 1024 * 1024


def get_upload_url(ctx: ApiContext, a: Args) -> dict[str, Any]:
    filename = a.req("filename", "invalid_arguments")
    length = a.integer("length", -1)
    if length < 0:
        raise SlackError("invalid_arguments")
    if length > MAX_FILE_BYTES:
        raise SlackError("file_upload_size_restricted")
    fid = ctx.ws.ids.new_id("F")
    ctx.ws.files[fid] = StoredFile(
        fid,
        filename,
        length,
        user=ctx.ws.bot_user.id,
        created=int(ctx.ws.now()),
        snippet_type=a.get("snippet_type") or None,
    )
    return {"upload_url": f"{ctx.public_url}upload/{fid}", "file_id": fid}


def complete_upload(ctx: ApiContext, a: Args) -> dict[str, Any]:
    items = a.json("files")
    if not isinstance(items, list) or not items:
        raise SlackError("invalid_arguments")
    files: list[StoredFile] = []
    for item in items:
        stored = ctx.ws.files.get(str(item.get("id"))) if isinstance(item, dict) else None
        if stored is None or stored.content is None or stored.completed:
            raise SlackError("file_not_found")
        files.append(stored)
    channel_ids = [a.get("channel_id")] if a.has("channel_id") else a.csv("channels")
    channels = []
    for cid in channel_ids:
        ch = ctx.ws.channel(cid or "")
        if ctx.ws.bot_user.id not in ch.members:
            raise SlackError("not_in_channel")
        if ch.is_archived:
            raise SlackError("is_archived")
        channels.append(ch)
    for item, stored in zip(items, files, strict=True):
        stored.title = item.get("title") or stored.filename
        stored.completed = True
    domain = ctx.ws.team.domain
    for ch in channels:
        data: dict[str, Any] = {
            "text": a.get("initial_comment") or "",
            "upload": True,
            "files": [f.to_dict(domain) for f in files],
            **ctx.ws.bot_message_fields(),
        }
        msg = ctx.ws.store_message(ch, data, thread_ts=a.get("thread_ts"))
        for f in files:
            f.channels.append(ch.id)
            f.shares.append((ch.id, msg.ts))
    return {"files": [{"id": f.id, "title": f.title} for f in files]}


def info(ctx: ApiContext, a: Args) -> dict[str, Any]:
    stored = ctx.ws.files.get(a.req("file", "file_not_found"))
    if stored is None or not stored.completed:
        raise SlackError("file_not_found")
    return {
        "file": stored.to_dict(ctx.ws.team.domain),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "files.getUploadURLExternal": get_upload_url,
            "files.completeUploadExternal": complete_upload,
            "files.info": info,
        }
    )
