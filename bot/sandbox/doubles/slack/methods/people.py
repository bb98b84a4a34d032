"""auth.*, users.*, usergroups.*, apps.connections.open."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.args import Args
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.methods.base import ApiContext, Handler, paginate


def auth_test(ctx: ApiContext, a: Args) -> dict[str, Any]:
    ws = ctx.ws
    return {
        "url": ws.team.url,
        "team": ws.team.name,
        "user": ws.bot_user.name,
        "team_id": ws.team.id,
        "user_id": ws.bot_user.id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def users_info(ctx: ApiContext, a: Args) -> dict[str, Any]:
    return {"user": ctx.ws.user(a.req("user", "user_not_found")).to_dict()}


def users_list(ctx: ApiContext, a: Args) -> dict[str, Any]:
    users = [u.to_dict() for u in ctx.ws.users.values()]
    page, cursor = paginate(users, a, 200)
    return {
        "members": page,
        "cache_ts": int(ctx.ws.now()),
        "response_metadata": {"next_cursor": cursor},
    }


def users_lookup_by_email(ctx: ApiContext, a: Args) -> dict[str, Any]:
    email = a.req("email", "users_not_found").lower()
    for user in ctx.ws.users.values():
        if user.email and user.email.lower() == email and not user.deleted:
            return {"user": user.to_dict()}
    raise SlackError("users_not_found")


def usergroups_list(ctx: ApiContext, a: Args) -> dict[str, Any]:
    include = a.flag("include_users")
    return {"usergroups": [g.to_dict(include) for g in ctx.ws.usergroups.values()]}


def usergroups_users_list(ctx: ApiContext, a: Args) -> dict[str, Any]:
    group = ctx.ws.usergroups.get(a.req("usergroup", "no_such_subteam"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.users)}


def apps_connections_open(ctx: ApiContext, a: Args) -> dict[str, Any]:
    if a.token_kind != "app":
        raise SlackError("not_allowed_token_type")
    return {"url": ctx.new_socket_url()}


def register(table: dict[str, Handler]) -> None:
    table.update(
        {
            "auth.test": auth_test,
            "users.info": users_info,
            "users.list": users_list,
            "users.lookupByEmail": users_lookup_by_email,
            "usergroups.list": usergroups_list,
            "usergroups.users.list": usergroups_users_list,
            "apps.connections.open": apps_connections_open,
        }
    )
