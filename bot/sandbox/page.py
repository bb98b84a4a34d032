"""The sandbox page: a small Slack-like client served by the bot's own HTTP server.

`/sandbox` is a static page (vanilla JS, no build step) that reads the emulated workspace
through `/sandbox/api/state` and acts through the Slack double's user-actions API (slash
commands, clicks, selections, modal submissions), so every request reaches the bot signed,
exactly as Slack would send it. `/sandbox/api/events` is a Server-Sent Events stream: one
event per change of the workspace (every Web API call the bot makes, every action taken on
the page), on which the page redraws — no reloading, no polling.

These routes exist only in the sandbox wiring, on a server bound to 127.0.0.1, and answer
only the page itself (`bot.sandbox.guard`: loopback `Host`, a per-run token, same-origin JSON).
`/` sends a person who opens the bot's address to the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.sandbox.doubles.slack import SlackError
from bot.sandbox.guard import PageGuard
from bot.sandbox.live import Changes, LiveSandbox
from bot.sandbox.state import snapshot
from bot.settings import packaged_dir

STATIC = packaged_dir("sandbox", "static")
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "blocks.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
KEEPALIVE_S = 15.0
COALESCE_S = 0.05
COMMANDS = ("/incident",)
TOKEN_PLACEHOLDER = "{{sandbox-token}}"


_PICKED = re.compile(r"(<[@#][A-Z0-9]+(?:\|[^<>]*)?>)")


def as_slack_sends(typed: str) -> str:
    """Slash-command text as Slack delivers it: the `&`, `<`, `>` a person typed encoded, and a
    person or channel picked from Slack's list as `<@U…>` / `<#C…>` (the page has no list, so
    such a token typed on it stands for one picked)."""
    parts = _PICKED.split(typed)
    return "".join(
        part if i % 2 else part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for i, part in enumerate(parts)
    )


class BadRequest(Exception):
    """What the page sent cannot be done; the message says why."""


def page_routes(sandbox: LiveSandbox) -> list[web.RouteDef]:
    changes = Changes()
    sandbox.changes = changes
    sandbox.slack.on_call(lambda _record: changes.bump())
    # An answer after the ack ("needs the role", a result) comes through a response_url, not
    # a Web API call: without this the page showed it only at the next call, if one came.
    sandbox.slack.on_response_url(lambda _post: changes.bump())
    guard = PageGuard(lambda: sandbox.app.port if sandbox.app is not None else None)
    page = (STATIC / "index.html").read_text("utf-8").replace(TOKEN_PLACEHOLDER, guard.token)

    def guarded(
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        *,
        reads: bool = False,
        writes: bool = False,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def check(request: web.Request) -> web.StreamResponse:
            refusal = guard.refuse(request, reads=reads, writes=writes)
            return refusal if refusal is not None else await handler(request)

        return check

    async def home(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/sandbox")

    async def index(_: web.Request) -> web.StreamResponse:
        changes.bind(asyncio.get_running_loop())
        return web.Response(
            text=page, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": ASSETS[name]})

    async def state(request: web.Request) -> web.Response:
        query = request.query
        body = snapshot(
            sandbox,
            viewer=query.get("as", ""),
            channel=query.get("channel", ""),
            thread=query.get("thread") or None,
        )
        body["revision"] = changes.revision
        return web.json_response(body)

    async def events(request: web.Request) -> web.StreamResponse:
        changes.bind(asyncio.get_running_loop())
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        seen = -1
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while True:
                if seen != changes.revision:
                    seen = changes.revision
                    await response.write(f"data: {seen}\n\n".encode())
                else:
                    await response.write(b": keepalive\n\n")
                revision = await changes.wait(seen, KEEPALIVE_S)
                if revision != seen:
                    await asyncio.sleep(COALESCE_S)  # one redraw for a burst of calls
        return response

    def act(
        work: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            changes.bind(asyncio.get_running_loop())
            try:
                data = await request.json()
                if not isinstance(data, dict):
                    raise BadRequest("send a JSON object")
                result = await work(data)
            except (BadRequest, LookupError, ValueError) as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)
            except SlackError as exc:
                return web.json_response({"ok": False, "error": exc.code}, status=400)
            finally:
                changes.bump()
            return web.json_response({"ok": True, **result})

        return handler

    def person(data: dict[str, Any]) -> str:
        user = str(data.get("as", ""))
        if user not in sandbox.people:
            raise BadRequest("choose who you are first")
        return user

    async def command(data: dict[str, Any]) -> dict[str, Any]:
        text = str(data.get("text", "")).strip()
        name, _, rest = text.partition(" ")
        if name not in COMMANDS:
            raise BadRequest(f"`{name}` is not a command here; type /incident help")
        delivery = await sandbox.slack.slash_command(
            person(data), str(data.get("channel")), as_slack_sends(rest.strip()), name
        )
        return {"status": delivery.status}

    async def message(data: dict[str, Any]) -> dict[str, Any]:
        text = str(data.get("text", "")).strip()
        if not text:
            raise BadRequest("type something first")
        ts = await sandbox.slack.post_as_user(
            person(data), str(data.get("channel")), text, data.get("thread_ts") or None
        )
        return {"ts": ts}

    async def action(data: dict[str, Any]) -> dict[str, Any]:
        user, slack = person(data), sandbox.slack
        kind, action_id = str(data.get("kind")), str(data.get("action_id"))
        block_id = data.get("block_id") or None
        if data.get("view_id"):
            delivery = await slack.click_view_button(
                user, str(data["view_id"]), action_id, data.get("value"), block_id
            )
            return {"status": delivery.status}
        channel, ts = str(data.get("channel")), str(data.get("ts"))
        if kind == "button":
            delivery = await slack.click_button(
                user, channel, ts, action_id, data.get("value"), block_id
            )
        elif kind in {"static_select", "radio_buttons", "overflow"}:
            delivery = await slack.select_option(
                user, channel, ts, action_id, str(data.get("value")), block_id
            )
        elif kind in {"checkboxes", "multi_static_select"}:
            values = [str(v) for v in data.get("values") or []]
            delivery = await slack.check_boxes(user, channel, ts, action_id, values, block_id)
        else:
            raise BadRequest(f"the sandbox cannot do {kind!r} elements yet")
        return {"status": delivery.status}

    async def view(data: dict[str, Any]) -> dict[str, Any]:
        user, view_id = person(data), str(data.get("view_id"))
        if data.get("op") == "close":
            sandbox.slack.close_view(user, view_id)
            return {}
        values = data.get("values") or {}
        if not isinstance(values, dict):
            raise BadRequest("values must be {block_id: {action_id: value}}")
        delivery = await sandbox.slack.submit_view(user, view_id, values)
        return {"status": delivery.status, "response": delivery.json}

    async def alert(data: dict[str, Any]) -> dict[str, Any]:
        examples = {e.name: e for e in sandbox.alert_examples()}
        chosen = examples.get(str(data.get("name")))
        if chosen is None:
            raise BadRequest(f"no example alert {data.get('name')!r}; known: {sorted(examples)}")
        status = "resolved" if data.get("resolved") else "firing"
        answered = await sandbox.fire_alert(chosen, status=status)
        return {"status": answered}

    async def drill(data: dict[str, Any]) -> dict[str, Any]:
        person(data)
        if sandbox.drill is None:
            raise BadRequest("no drill in this sandbox: start it with --drill NAME")
        if data.get("op") != "start":
            raise BadRequest("the drill can only be started")
        return {"started": sandbox.drill.begin()}

    async def file(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        try:
            content = sandbox.slack.file_content(file_id)
        except (KeyError, LookupError):
            raise web.HTTPNotFound() from None
        if content.startswith(b"\x89PNG"):
            return web.Response(body=content, content_type="image/png")
        # Fireline uploads text as UTF-8 (reports, logs): say so, or a browser guesses Latin-1
        # and shows "—" as "â€”". text/plain even for Markdown: a browser shows it, not saves it.
        return web.Response(body=content, content_type="text/plain", charset="utf-8")

    return [
        web.get("/", home),
        web.get("/sandbox", guarded(index)),
        web.get("/sandbox/", guarded(index)),
        web.get("/sandbox/static/{name}", guarded(asset)),
        web.get("/sandbox/api/state", guarded(state, reads=True)),
        web.get("/sandbox/api/events", guarded(events)),
        web.post("/sandbox/api/command", guarded(act(command), writes=True)),
        web.post("/sandbox/api/message", guarded(act(message), writes=True)),
        web.post("/sandbox/api/action", guarded(act(action), writes=True)),
        web.post("/sandbox/api/view", guarded(act(view), writes=True)),
        web.post("/sandbox/api/alert", guarded(act(alert), writes=True)),
        web.post("/sandbox/api/drill", guarded(act(drill), writes=True)),
        web.get("/sandbox/files/{file_id}", guarded(file)),
    ]
