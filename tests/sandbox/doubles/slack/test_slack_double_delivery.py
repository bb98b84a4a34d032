"""The double delivers to a real Bolt app as Slack does: signed HTTP and Socket Mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.doubles.slack import SlackDouble
from tests.harness import eventually

MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title_input"},
        }
    ],
}


def ack_button_blocks(value: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Incident declared"}},
        {
            "type": "actions",
            "block_id": "controls",
            "elements": [
                {
                    "type": "button",
                    "action_id": "ack_incident",
                    "value": value,
                    "text": {"type": "plain_text", "text": "Ack"},
                },
                {
                    "type": "static_select",
                    "action_id": "sev",
                    "placeholder": {"type": "plain_text", "text": "Severity"},
                    "options": [
                        {"text": {"type": "plain_text", "text": f"SEV{i}"}, "value": f"sev{i}"}
                        for i in (1, 2, 3)
                    ],
                },
                {
                    "type": "checkboxes",
                    "action_id": "checks",
                    "options": [
                        {"text": {"type": "plain_text", "text": t}, "value": t}
                        for t in ("comms", "rollback")
                    ],
                },
            ],
        },
    ]


@dataclass
class Seen:
    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)


def build_app(client: AsyncWebClient, signing_secret: str | None, seen: Seen) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret)

    @app.command("/incident")
    async def incident(ack, command, respond, client):
        seen.commands.append(command)
        seen.triggers.append(command["trigger_id"])
        if command["text"] == "open":
            await ack()
            await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
            return
        if command["text"] == "later":
            await ack()
            return
        await ack(text=f"Declared: {command['text']}", blocks=ack_button_blocks("inc-1"))
        await respond(response_type="in_channel", text=f"<@{command['user_id']}> declared")

    @app.action("ack_incident")
    async def on_ack(ack, body, respond):
        await ack()
        seen.actions.append(body)
        await respond(replace_original=True, text=f"Acknowledged by <@{body['user']['id']}>")

    @app.action("sev")
    @app.action("checks")
    @app.action("modal_btn")
    async def on_select(ack, body):
        await ack()
        seen.actions.append(body)

    @app.view("declare")
    async def on_submit(ack, view):
        title = view["state"]["values"]["title"]["title_input"]["value"]
        if not title:
            await ack(response_action="errors", errors={"title": "A title is required"})
            return
        await ack()
        seen.submissions.append(title)

    @app.event("reaction_added")
    @app.event("pin_added")
    async def on_event(event):
        seen.events.append(event)

    return app


@pytest.fixture
async def http_app(double: SlackDouble) -> AsyncIterator[Seen]:
    seen = Seen()
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    app = build_app(client, double.app.signing_secret, seen)

    async def endpoint(request: web.Request) -> web.Response:
        seen.headers.append(dict(request.headers))
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    double.request_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    yield seen
    await runner.cleanup()


@pytest.fixture
def people(double: SlackDouble) -> tuple[str, str]:
    alice = double.add_user("alice")
    return alice, double.add_channel("incidents", members=[alice])


async def test_slash_command_ack_and_response_url(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    result = await double.slash_command(alice, cid, "db down")
    assert result.status == 200
    cmd = http_app.commands[0]
    assert (cmd["user_id"], cmd["channel_id"], cmd["command"], cmd["text"]) == (
        alice,
        cid,
        "/incident",
        "db down",
    )
    assert cmd["team_id"] == double.team_id and cmd["response_url"].startswith(double.base_url)
    [eph] = double.ephemerals(user_id=alice, channel_id=cid)
    assert eph.text == "Declared: db down" and eph.source == "slash_command_ack"
    await eventually(lambda: double.messages(cid), what="the response_url post")  # after the ack
    assert double.messages(cid)[-1]["text"] == f"<@{alice}> declared"
    assert double.response_url_posts[0].body["response_type"] == "in_channel"


async def test_click_button_on_ephemeral_replaces_it(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    await double.slash_command(alice, cid, "db down")
    [eph] = double.ephemerals(user_id=alice)
    result = await double.click_button(alice, cid, eph.ts, "ack_incident")
    assert result.status == 200
    await eventually(
        lambda: any("Acknowledged" in (e.text or "") for e in double.ephemerals(user_id=alice)),
        what="the respond() replacement",
    )
    body = http_app.actions[0]
    assert body["type"] == "block_actions" and body["container"]["is_ephemeral"]
    assert body["actions"][0]["value"] == "inc-1" and body["actions"][0]["block_id"] == "controls"
    assert body["trigger_id"] not in http_app.triggers
    [replaced] = double.ephemerals(user_id=alice)
    assert replaced.text == f"Acknowledged by <@{alice}>"


async def test_click_button_uses_stored_or_stale_message(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    ts = (await client.chat_postMessage(channel=cid, text="v1", blocks=ack_button_blocks("inc-7")))[
        "ts"
    ]
    old = double.message(cid, ts)
    await client.chat_update(channel=cid, ts=ts, text="v2", blocks=ack_button_blocks("inc-7"))
    await double.click_button(alice, cid, ts, "ack_incident")
    await double.click_button(alice, cid, ts, "ack_incident", message=old)
    assert [a["message"]["text"] for a in http_app.actions] == ["v2", "v1"]
    await eventually(lambda: double.message(cid, ts)["text"] != "v2", what="the respond() edit")
    assert double.message(cid, ts)["text"] == f"Acknowledged by <@{alice}>"
    with pytest.raises(LookupError):
        await double.click_button(alice, cid, ts, "no_such_button")


async def test_select_and_checkboxes(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    ts = (await client.chat_postMessage(channel=cid, text="t", blocks=ack_button_blocks("x")))["ts"]
    await double.select_option(alice, cid, ts, "sev", "sev2")
    await double.check_boxes(alice, cid, ts, "checks", ["comms", "rollback"])
    select, checks = (a["actions"][0] for a in http_app.actions)
    assert select["type"] == "static_select" and select["selected_option"]["value"] == "sev2"
    assert [o["value"] for o in checks["selected_options"]] == ["comms", "rollback"]
    state = http_app.actions[1]["state"]["values"]["controls"]["checks"]
    assert len(state["selected_options"]) == 2


async def test_modal_open_errors_and_submit(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    await double.slash_command(alice, cid, "open")
    await eventually(lambda: double.open_views(alice), what="views.open after the ack")
    [view] = double.open_views(alice)
    assert view["callback_id"] == "declare"
    rejected = await double.submit_view(alice, view["id"], {"title": {"title_input": ""}})
    assert rejected.response_action == "errors" and rejected.json is not None
    assert rejected.json["errors"] == {"title": "A title is required"}
    assert [v["id"] for v in double.open_views(alice)] == [view["id"]]
    accepted = await double.submit_view(alice, view["id"], {"title": {"title_input": "DB"}})
    assert accepted.status == 200 and http_app.submissions == ["DB"]
    assert double.open_views(alice) == []


async def test_trigger_ids_expire_and_are_single_use() -> None:
    now = [1_700_000_000.0]
    async with SlackDouble(clock=lambda: now[0]) as d:
        alice = d.add_user("alice")
        cid = d.add_channel("triggers", members=[alice])
        client = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        seen = Seen()
        app = build_app(client, d.app.signing_secret, seen)
        runner = web.AppRunner(web.Application(), access_log=None)

        async def endpoint(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await app.async_dispatch(await to_bolt_request(request))
            )

        runner.app.router.add_post("/slack/events", endpoint)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        d.request_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        try:
            for _ in range(2):
                await d.slash_command(alice, cid, "later")
            fresh, stale = seen.triggers[1], seen.triggers[0]
            assert (await client.views_open(trigger_id=fresh, view=MODAL))["ok"]
            for trigger, error in (
                (fresh, "exchanged_trigger_id"),
                ("1.2.unknown", "expired_trigger_id"),
            ):
                with pytest.raises(SlackApiError) as info:
                    await client.views_open(trigger_id=trigger, view=MODAL)
                assert info.value.response["error"] == error
            now[0] += 3.5
            with pytest.raises(SlackApiError) as info:
                await client.views_open(trigger_id=stale, view=MODAL)
            assert info.value.response["error"] == "expired_trigger_id"
        finally:
            await runner.cleanup()


async def test_reaction_event_and_retry_headers(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    ts = (await client.chat_postMessage(channel=cid, text="status"))["ts"]
    result = await double.add_reaction_as_user(alice, cid, ts, "white_check_mark")
    assert result is not None and result.status == 200
    event = http_app.events[0]
    assert (event["user"], event["reaction"], event["item"]) == (
        alice,
        "white_check_mark",
        {"type": "message", "channel": cid, "ts": ts},
    )
    assert double.message(cid, ts)["reactions"][0]["users"] == [alice]
    envelope = result.payload
    assert envelope["type"] == "event_callback" and envelope["event_id"]
    assert envelope["authorizations"][0]["user_id"] == double.bot_user_id

    again = await double.send_event(event, retry_num=1, event_id=envelope["event_id"])
    assert again.payload["event_id"] == envelope["event_id"]
    assert http_app.headers[-1]["X-Slack-Retry-Num"] == "1"
    assert http_app.headers[-1]["X-Slack-Retry-Reason"] == "http_timeout"


async def test_bad_signature_rejected_by_bolt(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    result = await double.slash_command(alice, cid, "db down", bad_signature=True)
    assert result.status == 401 and http_app.commands == []
    assert double.ephemerals() == []


async def test_url_verification(double: SlackDouble, http_app: Seen) -> None:
    result = await double.url_verification("abc123")
    assert result.json == {"challenge": "abc123"}


async def test_socket_mode_delivery_to_bolt_handler() -> None:
    async with SlackDouble(socket_mode=True) as d:
        alice = d.add_user("alice")
        cid = d.add_channel("sock", members=[alice])
        client = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        with pytest.raises(SlackApiError) as info:
            await client.apps_connections_open(app_token=d.bot_token)
        assert info.value.response["error"] == "not_allowed_token_type"
        seen = Seen()
        handler = AsyncSocketModeHandler(build_app(client, None, seen), app_token=d.app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(5):
                await d.wait_for_socket()
            result = await d.slash_command(alice, cid, "cache down")
            assert result.via == "socket" and result.status == 200
            [eph] = d.ephemerals(user_id=alice)
            assert eph.text == "Declared: cache down"
            await d.click_button(alice, cid, eph.ts, "ack_incident")
            await eventually(
                lambda: any("Acknowledged" in (e.text or "") for e in d.ephemerals(user_id=alice)),
                what="the respond() replacement",
            )
            assert d.ephemerals(user_id=alice)[0].text == f"Acknowledged by <@{alice}>"
            ts = (await client.chat_postMessage(channel=cid, text="x"))["ts"]
            await d.add_reaction_as_user(alice, cid, ts, "eyes")
            await eventually(lambda: seen.events, what="the event listener")
            assert seen.events[0]["reaction"] == "eyes"
            kinds = [e["type"] for e in d.socket_envelopes]
            assert kinds == ["slash_commands", "interactive", "events_api"]
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]


async def test_thread_mode_delivers_from_the_doubles_own_loop() -> None:
    d = SlackDouble().start_in_thread()
    try:
        alice = d.add_user("alice")
        cid = d.add_channel("threaded", members=[alice])
        seen = Seen()
        client = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        app = build_app(client, d.app.signing_secret, seen)

        async def endpoint(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await app.async_dispatch(await to_bolt_request(request))
            )

        runner = web.AppRunner(web.Application(), access_log=None)
        runner.app.router.add_post("/slack/events", endpoint)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        d.request_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        try:
            result = await d.slash_command(alice, cid, "api slow")
            assert result.status == 200 and seen.commands[0]["text"] == "api slow"
            assert d.ephemerals(user_id=alice)[0].text == "Declared: api slow"
        finally:
            await runner.cleanup()
    finally:
        d.stop()


async def test_response_url_semantics(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    announced: list[tuple[str | None, int]] = []  # each post is announced once it shows
    double.on_response_url(
        lambda post: announced.append((post.body.get("text"), len(double.ephemerals(alice))))
    )
    await double.slash_command(alice, cid, "later")
    url = http_app.commands[0]["response_url"]
    async with aiohttp.ClientSession() as http:
        for body in ({"text": "just you"}, {"text": "everyone", "response_type": "in_channel"}):
            async with http.post(url, json=body) as resp:
                assert resp.status == 200
    assert [e.text for e in double.ephemerals(user_id=alice)] == ["just you"]
    assert double.messages(cid)[-1]["text"] == "everyone"
    assert announced == [("just you", 1), ("everyone", 1)]

    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    ts = (await client.chat_postMessage(channel=cid, text="t", blocks=ack_button_blocks("x")))["ts"]
    await double.click_button(alice, cid, ts, "ack_incident")
    action_url = http_app.actions[0]["response_url"]
    async with (
        aiohttp.ClientSession() as http,
        http.post(action_url, json={"delete_original": True}) as resp,
    ):
        assert resp.status == 200
    assert all(m["ts"] != ts for m in double.messages(cid))
    assert len(announced) == len(double.response_url_posts)  # every one, a delete too


async def test_view_stack_update_push_and_home(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    for _ in range(2):
        await double.slash_command(alice, cid, "later")
    root = (await client.views_open(trigger_id=http_app.triggers[0], view=MODAL))["view"]
    pushed = (await client.views_push(trigger_id=http_app.triggers[1], view=MODAL))["view"]
    assert pushed["root_view_id"] == root["id"] and pushed["previous_view_id"] == root["id"]
    with pytest.raises(SlackApiError) as info:
        await client.views_update(view_id=root["id"], hash="stale", view=MODAL)
    assert info.value.response["error"] == "hash_conflict"
    retitled = {**MODAL, "title": {"type": "plain_text", "text": "Renamed"}}
    updated = await client.views_update(view_id=root["id"], hash=root["hash"], view=retitled)
    assert updated["view"]["title"]["text"] == "Renamed"
    assert [v["id"] for v in double.open_views(alice)] == [root["id"], pushed["id"]]
    submitted = await double.submit_view(alice, pushed["id"], {"title": {"title_input": "x"}})
    assert submitted.ok and [v["id"] for v in double.open_views(alice)] == [root["id"]]

    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "No incidents"}}],
    }
    await client.views_publish(user_id=alice, view=home)
    published = double.home_view(alice)
    assert published is not None and published["blocks"][0]["text"]["text"] == "No incidents"


async def test_pin_by_user_delivers_pin_added(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    ts = (await client.chat_postMessage(channel=cid, text="status"))["ts"]
    result = await double.pin_as_user(alice, cid, ts)
    assert result is not None
    event = result.payload["event"]
    assert (event["type"], event["user"], event["item"]["message"]["ts"]) == (
        "pin_added",
        alice,
        ts,
    )
    assert (await client.pins_list(channel=cid))["items"][0]["created_by"] == alice
    assert http_app.events[-1]["type"] == "pin_added"


async def test_click_button_inside_a_modal(
    double: SlackDouble, http_app: Seen, people: tuple[str, str]
) -> None:
    alice, cid = people
    client = AsyncWebClient(token=double.bot_token, base_url=double.api_url)
    await double.slash_command(alice, cid, "later")
    modal = {
        **MODAL,
        "blocks": [
            *MODAL["blocks"],
            {
                "type": "actions",
                "block_id": "more",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "modal_btn",
                        "value": "in-modal",
                        "text": {"type": "plain_text", "text": "Ack"},
                    }
                ],
            },
        ],
    }
    view = (await client.views_open(trigger_id=http_app.triggers[0], view=modal))["view"]
    result = await double.click_view_button(alice, view["id"], "modal_btn")
    payload = result.payload
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["actions"][0]["value"] == "in-modal" and "response_url" not in payload
    assert result.status == 200 and http_app.actions[-1]["view"]["id"] == view["id"]
