"""views.* — modals (with trigger_id validity and the view stack) and the Home tab."""

from __future__ import annotations

import hashlib
from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.blocks import validate_view
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler
from bot.sandbox.doubles.slack.workspace import View, Workspace

TRIGGER_TTL_SECONDS = 3.0
MAX_STACK = 3


def render_view(ws: Workspace, view: View) -> dict[str, Any]:
    """The view object Slack returns and puts in interaction payloads."""
    data = view.data
    return {
        "id": view.id,
        "team_id": ws.team.id,
        "type": data.get("type"),
        "title": data.get("title"),
        "submit": data.get("submit"),
        "close": data.get("close"),
        "blocks": data.get("blocks", []),
        "private_metadata": data.get("private_metadata", ""),
        "callback_id": data.get("callback_id", ""),
        "external_id": data.get("external_id", ""),
        "state": {"values": view.state_values},
        "hash": view.hash,
        "clear_on_close": bool(data.get("clear_on_close")),
        "notify_on_close": bool(data.get("notify_on_close")),
        "root_view_id": view.root_view_id,
        "previous_view_id": view.previous_view_id,
        "app_id": ws.app_id,
        "bot_id": ws.bot_id,
        "app_installed_team_id": ws.team.id,
    }


def _hash(ws: Workspace) -> str:
    return hashlib.sha1(ws.ids.new_ts().encode()).hexdigest()[:20]


def new_view(
    ws: Workspace,
    user_id: str,
    data: dict[str, Any],
    root: str | None = None,
    previous: str | None = None,
) -> View:
    ext = data.get("external_id")
    if ext and any(v.data.get("external_id") == ext for v in ws.views.values()):
        raise SlackError("duplicate_external_id")
    vid = ws.ids.new_id("V")
    view = View(vid, user_id, data, _hash(ws), root or vid, previous)
    ws.views[vid] = view
    return view


def replace_view(ws: Workspace, view: View, data: dict[str, Any]) -> None:
    view.data = data
    view.hash = _hash(ws)
    view.state_values = {}


def consume_trigger(ws: Workspace, trigger_id: str | None) -> str:
    """The user of a valid, fresh, unused trigger; else Slack's trigger errors."""
    if not trigger_id or trigger_id.count(".") < 2:
        raise SlackError("invalid_trigger_id")
    trig = ws.triggers.get(trigger_id)
    if trig is None or ws.now() - trig.issued_at > TRIGGER_TTL_SECONDS:
        raise SlackError("expired_trigger_id")
    if trig.used:
        raise SlackError("exchanged_trigger_id")
    trig.used = True
    return trig.user_id


def views_open(ctx: ApiContext, a: Args) -> dict[str, Any]:
    data = validate_view(a.json("view"))
    user_id = consume_trigger(ctx.ws, a.get("trigger_id") or a.get("interactivity_pointer"))
    view = new_view(ctx.ws, user_id, data)
    ctx.ws.view_stacks[user_id] = [view.id]
    return {"view": render_view(ctx.ws, view)}


def views_push(ctx: ApiContext, a: Args) -> dict[str, Any]:
    data = validate_view(a.json("view"))
    user_id = consume_trigger(ctx.ws, a.get("trigger_id") or a.get("interactivity_pointer"))
    stack = ctx.ws.view_stacks.get(user_id)
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MAX_STACK:
        raise SlackError("push_limit_reached")
    view = new_view(ctx.ws, user_id, data, root=stack[0], previous=stack[-1])
    stack.append(view.id)
    return {"view": render_view(ctx.ws, view)}


def views_update(ctx: ApiContext, a: Args) -> dict[str, Any]:
    data = validate_view(a.json("view"))
    view: View | None = None
    if a.has("view_id"):
        view = ctx.ws.views.get(a.req("view_id"))
    elif a.has("external_id"):
        ext = a.req("external_id")
        view = next((v for v in ctx.ws.views.values() if v.data.get("external_id") == ext), None)
    if view is None:
        raise SlackError("not_found")
    if a.has("hash") and a.get("hash") != view.hash:
        raise SlackError("hash_conflict")
    replace_view(ctx.ws, view, data)
    return {"view": render_view(ctx.ws, view)}


def views_publish(ctx: ApiContext, a: Args) -> dict[str, Any]:
    data = validate_view(a.json("view"))
    if data.get("type") != "home":
        raise SlackError("invalid_arguments")
    user_id = a.req("user_id", "user_not_found")
    ctx.ws.user(user_id, "invalid_arguments")
    current = ctx.ws.views.get(ctx.ws.home_views.get(user_id, ""))
    if current is not None:
        if a.has("hash") and a.get("hash") != current.hash:
            raise SlackError("hash_conflict")
        replace_view(ctx.ws, current, data)
        view = current
    else:
        view = new_view(ctx.ws, user_id, data)
        ctx.ws.home_views[user_id] = view.id
    return {"view": render_view(ctx.ws, view)}


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "views.open": views_open,
            "views.push": views_push,
            "views.update": views_update,
            "views.publish": views_publish,
        }
    )
