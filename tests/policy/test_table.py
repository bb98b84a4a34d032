"""The authority table names every way into Fireline, and nothing else.

A subcommand added to `Dispatcher.subcommands`, or a button, menu, form or event listener
registered in `handlers/` (however it is registered: this asks Bolt's own listeners which
requests they take), without a line in `bot.commands.authority` fails here; so does a line for
something that no longer exists. `test_matrix.py` then drives every line as every role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.app import Deps, create_app
from bot.commands import authority as table
from bot.settings import load_settings
from bot.store.server import RedisHandle
from tests.policy.test_matrix import ATTEMPTS


def block_action(action_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": "v"}],
    }


def view_submission(callback_id: str) -> dict[str, Any]:
    view = {"type": "modal", "callback_id": callback_id}
    return {"type": "view_submission", "user": {"id": "U1"}, "view": view}


def event(kind: str) -> dict[str, Any]:
    return {"type": "event_callback", "event": {"type": kind, "user": "U1"}}


COMMAND = {"command": "/incident", "text": "", "user_id": "U1", "channel_id": "C1"}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    return create_app(settings, Deps(redis=RedisHandle(client=Redis(), description="unused")))


async def taken_by(listener: Any, body: dict[str, Any]) -> bool:
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    return bool(await listener.async_matches(req=request, resp=BoltResponse(status=200)))


def test_every_subcommand_has_a_rule(app: Any) -> None:
    names = {sub.name for sub in app.services.dispatcher.subcommands}
    assert set(table.SUBCOMMANDS) == names


async def test_every_registered_listener_has_a_rule_and_every_rule_a_listener(app: Any) -> None:
    candidates = {
        **{f"action {k}": block_action(k) for k in table.INTERACTIONS},
        **{f"view {k}": view_submission(k) for k in table.INTERACTIONS},
        **{f"event {k}": event(k) for k in table.EVENTS},
        "command /incident": COMMAND,
    }
    taken: dict[str, int] = dict.fromkeys(candidates, 0)
    for index, listener in enumerate(app.bolt._async_listeners):  # Bolt's own registry
        matched = [name for name, body in candidates.items() if await taken_by(listener, body)]
        assert matched, (
            f"listener #{index} ({listener.ack_function.__qualname__}) takes no action, form "
            "or event of the authority table: add its rule to bot/commands/authority.py"
        )
        for name in matched:
            taken[name] += 1
    for key in table.INTERACTIONS:
        assert taken[f"action {key}"] + taken[f"view {key}"] == 1, f"{key}: no listener"
    for key in table.EVENTS:
        assert taken[f"event {key}"] == 1, f"event {key}: no listener"
    assert taken["command /incident"] == 1


async def test_a_button_without_a_rule_fails_the_check(app: Any) -> None:
    """The check above is not vacuous: a listener for an unknown button matches nothing."""

    # `app` is Any here, so the decorator is untyped to mypy.
    @app.bolt.action("something_new")  # type: ignore[untyped-decorator]
    async def new_button(ack: Any) -> None:
        await ack()

    listener = app.bolt._async_listeners[-1]
    bodies = [block_action(k) for k in table.INTERACTIONS]
    assert not [b for b in bodies if await taken_by(listener, b)]
    assert await taken_by(listener, block_action("something_new"))


def test_the_matrix_drives_every_line_of_the_table() -> None:
    every = {*table.SUBCOMMANDS, *table.INTERACTIONS, *table.EVENTS} - {"reaction_removed"}
    assert set(ATTEMPTS) == every


def test_every_rule_names_the_policy_field_a_team_edits() -> None:
    rules = [*table.SUBCOMMANDS.values(), *table.INTERACTIONS.values(), *table.EVENTS.values()]
    for rule in rules:
        assert rule.field()
