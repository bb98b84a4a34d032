"""Only the sandbox page itself may read or change the sandbox (issue 13, finding 9).

Another web page the person visits can POST to 127.0.0.1 (`text/plain` needs no preflight),
and a rebound DNS name can read the answers; each attempt is refused and nothing is declared.
The same request from the page itself (its Host, its Origin, JSON, this run's token) works.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest

from bot.sandbox.guard import TOKEN_HEADER
from bot.sandbox.world import WAR_ROOM, Sandbox


def origin(sandbox: Sandbox) -> str:
    assert sandbox.app is not None
    return sandbox.app.url  # http://127.0.0.1:<port>


def host(sandbox: Sandbox) -> str:
    return origin(sandbox).removeprefix("http://")


async def page_token(sandbox: Sandbox) -> str:
    async with aiohttp.ClientSession() as session, session.get(sandbox.url) as response:
        assert response.status == 200
        html = await response.text()
    found = re.search(r'<meta name="sandbox-token" content="([^"]+)">', html)
    assert found is not None and found.group(1) != "{{sandbox-token}}"
    return found.group(1)


def declare_p0(sandbox: Sandbox) -> bytes:
    someone = next(iter(sandbox.people))
    body = {"as": someone, "channel": sandbox.channels[WAR_ROOM], "text": "/incident declare P0 x"}
    return json.dumps(body).encode()


async def request(
    sandbox: Sandbox, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, origin(sandbox) + path, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def declared(sandbox: Sandbox) -> list[str]:
    assert sandbox.app is not None
    assert await sandbox.app.drain(5.0)
    return await sandbox.app.services.store.list_ids(open_only=False)


async def test_a_cross_origin_text_plain_post_declares_nothing(sandbox: Sandbox) -> None:
    # What a <form> or fetch(..., {mode: "no-cors"}) on evil.example can send with no preflight.
    headers = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    status, answer = await request(
        sandbox, "POST", "/sandbox/api/command", headers, declare_p0(sandbox)
    )
    assert status == 415, answer
    assert await declared(sandbox) == []


@pytest.mark.parametrize(
    "change",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": None},
        {TOKEN_HEADER: None},
        {TOKEN_HEADER: "a-token-from-another-run"},
        {TOKEN_HEADER: "é"},
        {"Host": "evil.example"},
    ],
    ids=["other-origin", "null-origin", "no-origin", "no-token", "wrong-token", "non-ascii-token",
         "rebound-host"],
)  # fmt: skip
async def test_json_posts_without_the_page_s_origin_token_or_host_are_refused(
    sandbox: Sandbox, change: dict[str, str | None]
) -> None:
    headers: dict[str, str | None] = {
        "Content-Type": "application/json",
        "Origin": origin(sandbox),
        TOKEN_HEADER: await page_token(sandbox),
        **change,
    }
    sent = {k: v for k, v in headers.items() if v is not None}
    status, answer = await request(
        sandbox, "POST", "/sandbox/api/command", sent, declare_p0(sandbox)
    )
    assert status == 403, answer
    assert await declared(sandbox) == []


async def test_the_page_itself_declares(sandbox: Sandbox) -> None:
    headers = {
        "Content-Type": "application/json",
        "Origin": origin(sandbox),
        TOKEN_HEADER: await page_token(sandbox),
    }
    status, answer = await request(
        sandbox, "POST", "/sandbox/api/command", headers, declare_p0(sandbox)
    )
    assert status == 200, answer
    assert sandbox.app is not None
    store = sandbox.app.services.store
    ids: list[str] = []
    for _ in range(500):  # the declaration is recorded just after the ack
        ids = await store.list_ids(open_only=False)
        if ids:
            break
        await asyncio.sleep(0.01)
    assert len(ids) == 1


@pytest.mark.parametrize(
    "path", ["/sandbox", "/sandbox/api/state", "/sandbox/api/events", "/sandbox/static/app.js"]
)
async def test_a_rebound_dns_name_reads_nothing(sandbox: Sandbox, path: str) -> None:
    # evil.example re-pointed at 127.0.0.1: the browser sends its own name as Host.
    token = await page_token(sandbox)
    port = host(sandbox).rpartition(":")[2]
    for rebound in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
        headers = {"Host": rebound, TOKEN_HEADER: token}
        status, answer = await request(sandbox, "GET", path, headers)
        assert status == 403, answer
        assert token not in answer and "people" not in answer


async def test_the_workspace_is_read_only_with_this_run_s_token(sandbox: Sandbox) -> None:
    status, _ = await request(sandbox, "GET", "/sandbox/api/state", {})
    assert status == 403
    headers = {TOKEN_HEADER: await page_token(sandbox)}
    status, answer = await request(sandbox, "GET", "/sandbox/api/state", headers)
    assert status == 200
    assert json.loads(answer)["people"]
    # localhost is the same loopback page.
    headers["Host"] = "localhost:" + host(sandbox).rpartition(":")[2]
    status, _ = await request(sandbox, "GET", "/sandbox/api/state", headers)
    assert status == 200
