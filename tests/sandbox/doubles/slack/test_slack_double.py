"""The Slack double's Web API, driven by the real slack_sdk AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.doubles.slack import MethodCatalog, RateLimits, SlackDouble

FAST = FixedValueRetryIntervalCalculator(0.01)


async def slack_error(coro) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


def code(err: SlackApiError) -> str:
    return str(err.response["error"])


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# -- protocol --------------------------------------------------------------------------------
async def test_api_url_is_loopback_and_ends_with_api(double: SlackDouble) -> None:
    assert double.api_url.startswith("http://127.0.0.1:")
    assert double.api_url.endswith("/api/")


async def test_auth_test_identifies_bot(double: SlackDouble, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == (
        double.team_id,
        double.bot_user_id,
        double.bot_id,
    )
    assert resp["url"].startswith("https://")


async def test_unknown_method_is_404(client: AsyncWebClient) -> None:
    err = await slack_error(client.api_call("incidents.frobnicate"))
    assert err.response.status_code == 404
    assert code(err) == "unknown_method"


async def test_missing_and_invalid_tokens(double: SlackDouble) -> None:
    assert code(await slack_error(AsyncWebClient(base_url=double.api_url).auth_test())) == (
        "not_authed"
    )
    bad = AsyncWebClient(token="xoxb-nope", base_url=double.api_url)
    assert code(await slack_error(bad.auth_test())) == "invalid_auth"


async def test_token_in_form_body_and_json_body_both_work(double: SlackDouble) -> None:
    cid = double.add_channel("form-vs-json")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{double.api_url}chat.postMessage",
            data={"token": double.bot_token, "channel": cid, "text": "form"},
        ) as r:
            assert (await r.json())["ok"]
        async with http.post(
            f"{double.api_url}chat.postMessage",
            json={"channel": cid, "blocks": [section("json")]},
            headers={"Authorization": f"Bearer {double.bot_token}"},
        ) as r:
            assert (await r.json())["ok"]
    assert [m["text"] for m in double.messages(cid)] == ["form", ""]
    assert double.messages(cid)[1]["blocks"][0]["text"]["text"] == "json"


async def test_missing_required_arguments_use_slack_errors(client: AsyncWebClient) -> None:
    assert code(await slack_error(client.api_call("chat.postMessage", json={"text": "x"}))) == (
        "channel_not_found"
    )
    assert code(await slack_error(client.api_call("users.info"))) == "user_not_found"
    assert code(await slack_error(client.api_call("views.open"))) == "invalid_arguments"


async def test_required_args_come_from_reference(
    double: SlackDouble, client: AsyncWebClient
) -> None:
    catalog = MethodCatalog()
    for method in ("chat.update", "reactions.add", "conversations.setTopic"):
        spec = catalog.get(method)
        assert spec is not None and spec.required
        err = await slack_error(client.api_call(method, json={}))
        assert code(err) == spec.missing_arg_error(spec.required[0])
        assert code(err) in spec.errors | {"invalid_arguments"}


async def test_calls_are_recorded(double: SlackDouble, client: AsyncWebClient) -> None:
    await client.auth_test()
    await slack_error(client.users_info(user="U404"))
    rec = double.calls("users.info")[-1]
    assert (rec.status, rec.ok, rec.error, rec.args["user"]) == (
        200,
        False,
        "user_not_found",
        "U404",
    )
    assert double.calls("auth.test")[0].ok


# -- messages --------------------------------------------------------------------------------
async def test_post_requires_membership_and_text(
    double: SlackDouble, client: AsyncWebClient
) -> None:
    outside = double.add_channel("outside", bot_member=False)
    assert code(await slack_error(client.chat_postMessage(channel=outside, text="x"))) == (
        "not_in_channel"
    )
    inside = double.add_channel("inside")
    err = await slack_error(client.api_call("chat.postMessage", json={"channel": inside}))
    assert code(err) == "no_text"
    assert (
        code(await slack_error(client.chat_postMessage(channel="C404", text="x")))
        == "channel_not_found"
    )


async def test_block_kit_and_length_limits(double: SlackDouble, client: AsyncWebClient) -> None:
    cid = double.add_channel("limits")
    too_many = [section(str(i)) for i in range(51)]
    assert (
        code(await slack_error(client.chat_postMessage(channel=cid, text="t", blocks=too_many)))
        == "invalid_blocks"
    )
    long_section = [section("x" * 3001)]
    assert (
        code(await slack_error(client.chat_postMessage(channel=cid, text="t", blocks=long_section)))
        == "invalid_blocks"
    )
    assert (
        code(await slack_error(client.chat_postMessage(channel=cid, text="x" * 40_001)))
        == "msg_too_long"
    )
    ok = await client.chat_postMessage(channel=cid, text="t", blocks=[section("x" * 3000)] * 50)
    assert ok["ok"]


async def test_ts_unique_and_increasing_even_with_frozen_clock() -> None:
    async with SlackDouble(clock=lambda: 1_700_000_000.0) as d:
        c = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        cid = d.add_channel("frozen")
        ts = [(await c.chat_postMessage(channel=cid, text=str(i)))["ts"] for i in range(5)]
    assert ts == sorted(ts, key=float) and len(set(ts)) == 5
    assert all(t.startswith("1700000000.") and len(t.split(".")[1]) == 6 for t in ts)


async def test_threads_update_delete_and_history(
    double: SlackDouble, client: AsyncWebClient
) -> None:
    alice = double.add_user("alice")
    cid = double.add_channel("inc", members=[alice])
    parent = (await client.chat_postMessage(channel=cid, text="root"))["ts"]
    await client.chat_postMessage(channel=cid, text="r1", thread_ts=parent)
    user_ts = await double.post_as_user(alice, cid, "from alice", thread_ts=parent)
    replies = await client.conversations_replies(channel=cid, ts=parent)
    assert [m["text"] for m in replies["messages"]] == ["root", "r1", "from alice"]
    history = await client.conversations_history(channel=cid)
    assert [m["text"] for m in history["messages"]] == ["root"]
    assert history["messages"][0]["reply_count"] == 2

    await client.chat_update(channel=cid, ts=parent, text="root v2")
    assert double.message(cid, parent)["text"] == "root v2"
    assert code(await slack_error(client.chat_update(channel=cid, ts="1.000001", text="x"))) == (
        "message_not_found"
    )
    assert code(await slack_error(client.chat_update(channel=cid, ts=user_ts, text="x"))) == (
        "cant_update_message"
    )
    await client.chat_delete(channel=cid, ts=parent)
    assert all(m["ts"] != parent for m in double.messages(cid))
    link = await client.chat_getPermalink(channel=cid, message_ts=user_ts)
    assert cid in link["permalink"]


async def test_history_pagination(double: SlackDouble, client: AsyncWebClient) -> None:
    cid = double.add_channel("paged")
    for i in range(5):
        await client.chat_postMessage(channel=cid, text=str(i))
    seen, cursor = [], None
    while True:
        page = await client.conversations_history(channel=cid, limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["4", "3", "2", "1", "0"]


async def test_post_ephemeral(double: SlackDouble, client: AsyncWebClient) -> None:
    alice, bob = double.add_user("alice"), double.add_user("bob")
    cid = double.add_channel("eph", members=[alice])
    await client.chat_postEphemeral(channel=cid, user=alice, text="only you")
    assert (
        code(await slack_error(client.chat_postEphemeral(channel=cid, user=bob, text="x")))
        == "user_not_in_channel"
    )
    assert [e.text for e in double.ephemerals(user_id=alice, channel_id=cid)] == ["only you"]
    assert double.ephemerals(user_id=bob) == []
    assert double.messages(cid) == []


# -- conversations ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Has-Caps", "invalid_name_specials"),
        ("spaces here", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
    ],
)
async def test_channel_name_rules(client: AsyncWebClient, name: str, error: str) -> None:
    assert code(await slack_error(client.conversations_create(name=name))) == error


async def test_channel_lifecycle(double: SlackDouble, client: AsyncWebClient) -> None:
    alice = double.add_user("alice", real_name="Alice Liddell", display_name="al")
    created = await client.conversations_create(name="inc-2026-db")
    cid = created["channel"]["id"]
    assert created["channel"]["is_member"]
    assert code(await slack_error(client.conversations_create(name="inc-2026-db"))) == (
        "name_taken"
    )
    await client.conversations_setTopic(channel=cid, topic="SEV1: db down")
    await client.conversations_setPurpose(channel=cid, purpose="restore db")
    info = (await client.conversations_info(channel=cid))["channel"]
    assert (info["topic"]["value"], info["purpose"]["value"]) == ("SEV1: db down", "restore db")

    await client.conversations_invite(channel=cid, users=alice)
    for users, error in (
        (alice, "already_in_channel"),
        ("U404", "user_not_found"),
        (double.bot_user_id, "cant_invite_self"),
    ):
        assert code(await slack_error(client.conversations_invite(channel=cid, users=users))) == (
            error
        )
    assert alice in (await client.conversations_members(channel=cid))["members"]
    await client.conversations_kick(channel=cid, user=alice)
    assert alice not in double.channel(cid)["members"]

    await client.conversations_archive(channel=cid)
    assert code(await slack_error(client.chat_postMessage(channel=cid, text="x"))) == (
        "is_archived"
    )
    assert code(await slack_error(client.conversations_archive(channel=cid))) == (
        "already_archived"
    )
    listed = await client.conversations_list(exclude_archived=True)
    assert cid not in [c["id"] for c in listed["channels"]]


async def test_join_open_dm_users_and_groups(double: SlackDouble, client: AsyncWebClient) -> None:
    alice = double.add_user("alice", real_name="Alice L", display_name="al")
    bob = double.add_user("bob")
    public = double.add_channel("public", bot_member=False)
    await client.conversations_join(channel=public)
    assert (await client.chat_postMessage(channel=public, text="joined"))["ok"]
    dm = (await client.conversations_open(users=alice))["channel"]["id"]
    assert dm.startswith("D")
    await client.chat_postMessage(channel=dm, text="hello in DM")
    assert double.messages(dm)[0]["text"] == "hello in DM"

    profile = (await client.users_info(user=alice))["user"]
    assert (profile["real_name"], profile["profile"]["display_name"]) == ("Alice L", "al")
    members = (await client.users_list())["members"]
    assert {alice, bob} <= {m["id"] for m in members}
    group = double.add_usergroup("oncall", [alice, bob])
    assert group in [g["id"] for g in (await client.usergroups_list())["usergroups"]]
    assert (await client.usergroups_users_list(usergroup=group))["users"] == [alice, bob]


# -- pins, reactions -------------------------------------------------------------------------
async def test_pins_and_reactions(double: SlackDouble, client: AsyncWebClient) -> None:
    cid = double.add_channel("pins")
    ts = (await client.chat_postMessage(channel=cid, text="status"))["ts"]
    await client.pins_add(channel=cid, timestamp=ts)
    assert code(await slack_error(client.pins_add(channel=cid, timestamp=ts))) == ("already_pinned")
    items = (await client.pins_list(channel=cid))["items"]
    assert [i["message"]["ts"] for i in items] == [ts]
    await client.pins_remove(channel=cid, timestamp=ts)
    assert (await client.pins_list(channel=cid))["items"] == []

    await client.reactions_add(channel=cid, timestamp=ts, name="eyes")
    assert (
        code(await slack_error(client.reactions_add(channel=cid, timestamp=ts, name="eyes")))
        == "already_reacted"
    )
    got = await client.reactions_get(channel=cid, timestamp=ts)
    assert got["message"]["reactions"][0]["users"] == [double.bot_user_id]
    await client.reactions_remove(channel=cid, timestamp=ts, name="eyes")
    assert "reactions" not in double.message(cid, ts)


# -- files -----------------------------------------------------------------------------------
async def test_files_upload_v2_end_to_end(double: SlackDouble, client: AsyncWebClient) -> None:
    cid = double.add_channel("reports")
    parent = (await client.chat_postMessage(channel=cid, text="incident"))["ts"]
    report = "# Postmortem\nroot cause: config push\n" * 50
    resp = await client.files_upload_v2(
        channel=cid,
        content=report,
        filename="pm.md",
        title="Postmortem",
        initial_comment="report attached",
        thread_ts=parent,
    )
    file_id = resp["file"]["id"]
    assert double.file_content(file_id).decode() == report
    info = (await client.files_info(file=file_id))["file"]
    assert (info["title"], info["size"], info["channels"]) == ("Postmortem", len(report), [cid])
    reply = double.thread(cid, parent)[-1]
    assert reply["text"] == "report attached" and reply["files"][0]["id"] == file_id


async def test_complete_upload_without_uploaded_bytes_fails(client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    err = await slack_error(client.files_completeUploadExternal(files=[{"id": url["file_id"]}]))
    assert code(err) == "file_not_found"


# -- rate limits and faults ------------------------------------------------------------------
async def test_post_message_rate_limited_per_channel_with_retry_after() -> None:
    async with SlackDouble(rate_limits=RateLimits.real(post_burst=3)) as d:
        c = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        busy, other = d.add_channel("busy"), d.add_channel("other")
        for _ in range(3):
            await c.chat_postMessage(channel=busy, text="x")
        err = await slack_error(c.chat_postMessage(channel=busy, text="x"))
        assert err.response.status_code == 429 and code(err) == "ratelimited"
        assert int(err.response.headers["Retry-After"]) >= 1
        assert (await c.chat_postMessage(channel=other, text="x"))["ok"]


async def test_tier_rate_limit_applies_per_method() -> None:
    async with SlackDouble(rate_limits=RateLimits.real()) as d:
        c = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        cid = d.add_channel("tiers")
        statuses = []
        for _ in range(7):  # conversations.setTopic is tier 2: burst of 5
            try:
                await c.conversations_setTopic(channel=cid, topic="t")
                statuses.append(200)
            except SlackApiError as e:
                statuses.append(e.response.status_code)
        assert statuses[:5] == [200] * 5 and statuses[-1] == 429
        assert (await c.conversations_info(channel=cid))["ok"]


@pytest.mark.slow
async def test_rate_limit_retry_handler_recovers() -> None:
    async with SlackDouble(rate_limits=RateLimits.scaled(1.0, post_burst=1)) as d:
        c = AsyncWebClient(
            token=d.bot_token,
            base_url=d.api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        cid = d.add_channel("retry")
        started = time.monotonic()
        await c.chat_postMessage(channel=cid, text="1")
        assert (await c.chat_postMessage(channel=cid, text="2"))["ok"]
        assert time.monotonic() - started >= 0.9
    assert [r.status for r in d.calls("chat.postMessage")] == [200, 429, 200]
    assert [m["text"] for m in d.messages(cid)] == ["1", "2"]


async def test_injected_failures(double: SlackDouble, client: AsyncWebClient) -> None:
    cid = double.add_channel("faults")
    double.fail_next("chat.postMessage", error="internal_error", status=500)
    double.fail_next("chat.postMessage", error="fatal_error")
    err = await slack_error(client.chat_postMessage(channel=cid, text="x"))
    assert (err.response.status_code, code(err)) == (500, "internal_error")
    assert code(await slack_error(client.chat_postMessage(channel=cid, text="x"))) == (
        "fatal_error"
    )
    assert (await client.chat_postMessage(channel=cid, text="x"))["ok"]


async def test_injected_5xx_and_drop_recovered_by_sdk_retry_handlers(double: SlackDouble) -> None:
    cid = double.add_channel("retries")
    c = AsyncWebClient(
        token=double.bot_token,
        base_url=double.api_url,
        retry_handlers=[
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=FAST),
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=FAST),
        ],
    )
    double.fail_next("chat.postMessage", status=503)
    double.fail_next("chat.postMessage", drop=True)
    assert (await c.chat_postMessage(channel=cid, text="eventually"))["ok"]
    assert [r.status for r in double.calls("chat.postMessage")] == [503, 0, 200]
    assert len(double.messages(cid)) == 1


async def test_injected_ratelimit_has_retry_after(
    double: SlackDouble, client: AsyncWebClient
) -> None:
    double.fail_next("auth.test", error="ratelimited", retry_after=7)
    err = await slack_error(client.auth_test())
    assert (err.response.status_code, err.response.headers["Retry-After"]) == (429, "7")


# -- lifecycle -------------------------------------------------------------------------------
async def test_background_thread_mode() -> None:
    d = SlackDouble().start_in_thread()
    try:
        c = AsyncWebClient(token=d.bot_token, base_url=d.api_url)
        cid = d.add_channel("threaded")
        await c.chat_postMessage(channel=cid, text="from another loop")
        assert d.messages(cid)[0]["text"] == "from another loop"
    finally:
        d.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await asyncio.wait_for(c.auth_test(), 5)


async def test_raw_json_answers_are_json(double: SlackDouble) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{double.api_url}auth.test", params={"token": double.bot_token}) as r,
    ):
        assert r.content_type == "application/json"
        assert json.loads(await r.text())["ok"] is True


async def test_history_shows_metadata_only_when_asked(
    double: SlackDouble, client: AsyncWebClient
) -> None:
    channel = double.add_channel("meta")
    meta = {"event_type": "fireline_outbox", "event_payload": {"marker": "m1"}}
    posted = await client.chat_postMessage(channel=channel, text="hi", metadata=meta)
    plain = await client.conversations_history(channel=channel)
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=channel, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == meta
    replies = await client.conversations_replies(
        channel=channel, ts=posted["ts"], include_all_metadata=True
    )
    assert replies["messages"][0]["metadata"] == meta
