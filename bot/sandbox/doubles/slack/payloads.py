"""Builders of the payloads Slack sends to an app: slash commands, interactions, events."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from bot.sandbox.doubles.slack.workspace import Channel, User, Workspace

VERIFICATION_TOKEN = "double-verification-token"


def _user(ws: Workspace, user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": ws.team.id}


def _team(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.team.id, "domain": ws.team.domain}


def slash_command_form(
    ws: Workspace,
    user: User,
    channel: Channel,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team.id,
        "team_domain": ws.team.domain,
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.is_im else channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def iter_elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every interactive element of ``blocks``."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions":
            for el in block.get("elements", []):
                yield block_id, el
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            yield block_id, block["accessory"]
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block_id, block["element"]


def find_element(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    for bid, el in iter_elements(blocks):
        if el.get("action_id") == action_id and (block_id is None or bid == block_id):
            return bid, el
    raise LookupError(f"no element with action_id={action_id!r} (block_id={block_id!r})")


def action_from_element(
    block_id: str,
    element: dict[str, Any],
    action_ts: str,
    *,
    value: str | None = None,
    selected: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the ``actions[]`` entry, the element's ``state.values`` entry or None)."""
    etype = element.get("type", "button")
    action: dict[str, Any] = {
        "type": etype,
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "action_ts": action_ts,
    }
    state: dict[str, Any] | None = None
    if etype == "button":
        action["text"] = element.get("text")
        chosen = value if value is not None else element.get("value")
        if chosen is not None:
            action["value"] = chosen
        if element.get("style"):
            action["style"] = element["style"]
    elif etype in (
        "checkboxes",
        "multi_static_select",
        "radio_buttons",
        "static_select",
        "overflow",
    ):
        options = selected or []
        if etype in ("checkboxes", "multi_static_select"):
            action["selected_options"] = options
            state = {"type": etype, "selected_options": options}
        else:
            action["selected_option"] = options[0] if options else None
            state = {"type": etype, "selected_option": action["selected_option"]}
    else:
        action["value"] = value
        state = {"type": etype, "value": value}
    return action, state


def block_actions_payload(
    ws: Workspace,
    user: User,
    channel: Channel | None,
    message: dict[str, Any] | None,
    actions: list[dict[str, Any]],
    state_values: dict[str, Any],
    response_url: str | None,
    trigger_id: str,
    *,
    view: dict[str, Any] | None = None,
    is_ephemeral: bool = False,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": _team(ws),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": state_values},
        "actions": actions,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
        return payload
    if channel is None or message is None:
        raise ValueError("a message action needs its channel and message")
    payload["container"] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    payload["channel"] = {"id": channel.id, "name": channel.name or "directmessage"}
    payload["message"] = copy.deepcopy(message)
    payload["response_url"] = response_url
    return payload


def view_submission_payload(
    ws: Workspace, user: User, view: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": _team(ws),
        "user": _user(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed_payload(ws: Workspace, user: User, view: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "view_closed",
        "team": _team(ws),
        "user": _user(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "view": view,
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_envelope(
    ws: Workspace, event: dict[str, Any], event_id: str, event_time: int
) -> dict[str, Any]:
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team.id,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "event_context": f"4-{event_id}",
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team.id,
                "user_id": ws.bot_user.id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def normalize_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """View state values; a bare string becomes a ``plain_text_input`` value."""
    out: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        out[block_id] = {
            action_id: v if isinstance(v, dict) else {"type": "plain_text_input", "value": v}
            for action_id, v in actions.items()
        }
    return out
