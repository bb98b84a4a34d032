"""Everything Fireline serves says it is UTF-8, and what it uploads to Slack is UTF-8 and named
as what it is (issue 15: the report opened as `â€”` and `ðŸ›`, served as `text/plain` without
a charset, which a browser reads as windows-1252).

Every route of the bot's own HTTP server (the sandbox's, which has them all: Slack's endpoint,
the webhook, health, metrics, the page, its API and its file downloads) is collected from the
router, not listed here, and asked as a client would; each text answer must name its charset.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox.guard import TOKEN_HEADER
from bot.sandbox.world import Sandbox

TITLE = "Checkout — 💥 down for ünïcode users"
TEXTUAL = re.compile(r"^(text/[^;]+|application/(json|javascript)|[^;]+\+json)\b", re.I)


def browser_decode(body: bytes, content_type: str) -> str:
    """What a browser shows for a text answer with no BOM: the declared charset, else the
    WHATWG default for text/plain and text/html, windows-1252."""
    declared = re.search(r"charset=([\w-]+)", content_type, re.I)
    return body.decode(declared.group(1) if declared else "cp1252", errors="replace")


class Page:
    """The sandbox page's own requests: its Origin, this run's token, JSON."""

    def __init__(self, sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
        assert sandbox.app is not None
        self.base = sandbox.app.url
        self.session = session
        self.token = ""

    async def open(self) -> None:
        async with self.session.get(f"{self.base}/sandbox") as response:
            html = await response.text()
        found = re.search(r'<meta name="sandbox-token" content="([^"]+)">', html)
        assert found is not None
        self.token = found.group(1)

    @property
    def headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token, "Origin": self.base}

    async def state(self, **query: str) -> Any:
        async with self.session.get(
            f"{self.base}/sandbox/api/state", params=query, headers=self.headers
        ) as response:
            return await response.json()

    async def command(self, person: str, channel: str, text: str) -> Any:
        async with self.session.post(
            f"{self.base}/sandbox/api/command",
            json={"as": person, "channel": channel, "text": text},
            headers=self.headers,
        ) as response:
            return await response.json()


async def eventually(check: Any, what: str, limit_s: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def resolved_report(sandbox: Sandbox, page: Page) -> str:
    """Declare an incident titled with a dash and an emoji, resolve it; the report's file ID."""
    state = await page.state()
    riley = next(p["id"] for p in state["people"] if p["role"] == "responder")
    answer = await page.command(riley, state["channel"], f"/incident declare P2 {TITLE}")
    assert answer == {"ok": True, "status": 200}, answer
    slack = sandbox.slack

    async def channel() -> str | None:
        assert sandbox.app is not None
        store = sandbox.app.services.store
        ids = await store.list_ids(open_only=False)
        incident = await store.get(ids[0]) if ids else None
        return incident.channel_id if incident and incident.provisioned else None

    incident_channel = await eventually(channel, "the incident's channel")
    assert (await page.command(riley, incident_channel, "/incident resolve"))["ok"]

    async def report() -> str | None:
        ids = [i for i in slack.file_ids() if slack.ws.files[i].filename.endswith(".md")]
        return ids[0] if ids else None

    return str(await eventually(report, "the post-incident report"))


async def test_every_route_declares_utf8_and_the_report_reads_right_in_a_browser(
    sandbox: Sandbox,
) -> None:
    assert sandbox.app is not None
    async with aiohttp.ClientSession() as session:
        page = Page(sandbox, session)
        await page.open()
        file_id = await resolved_report(sandbox, page)

        # The report, as the page's link opens it: declared UTF-8, so a browser shows the title.
        async with session.get(
            f"{page.base}/sandbox/files/{file_id}", headers=page.headers
        ) as response:
            assert response.status == 200
            content_type = response.headers["Content-Type"]
            shown = browser_decode(await response.read(), content_type)
        assert TITLE in shown and "â€" not in shown, content_type
        # Without the charset, this is what a browser showed (the check can tell the two).
        assert TITLE not in browser_decode(TITLE.encode(), "text/plain")

        fill = {"name": "app.js", "file_id": file_id}
        checked: list[str] = []
        for route in sandbox.app.web.router.routes():
            if route.method == "HEAD" or route.resource is None:
                continue
            info = route.resource.get_info()
            path = info.get("path") or info["formatter"].format(**fill)
            content_type = await answer_type(session, route, f"{page.base}{path}", page)
            checked.append(f"{route.method} {path}")
            media = content_type.split(";")[0].strip()
            if TEXTUAL.match(media):
                assert re.search(r"charset=utf-8", content_type, re.I), (path, content_type)
    # Collected from the router: the bot's, the webhook's, the metrics' and the page's routes.
    for expected in ("POST /slack/events", "GET /healthz", "GET /readyz", "GET /metrics"):
        assert expected in checked
    assert "POST /webhooks/alertmanager" in checked and "GET /sandbox/api/events" in checked
    assert len(checked) >= 15, checked


async def answer_type(
    session: aiohttp.ClientSession, route: web.AbstractRoute, url: str, page: Page
) -> str:
    """The Content-Type of the answer to a plain request on `route` (the page's headers; an
    empty JSON object for a POST); a stream is left once its headers are in."""
    data = json.dumps({}) if route.method == "POST" else None
    headers = {**page.headers, "Content-Type": "application/json"} if data else page.headers
    async with session.request(
        route.method, url, data=data, headers=headers, allow_redirects=False
    ) as response:
        assert response.status < 500, (url, response.status)
        return response.headers.get("Content-Type", "")


async def test_text_uploaded_to_slack_is_utf8_and_named_as_what_it_is(sandbox: Sandbox) -> None:
    assert sandbox.app is not None
    async with aiohttp.ClientSession() as session:
        page = Page(sandbox, session)
        await page.open()
        file_id = await resolved_report(sandbox, page)
    slack = sandbox.slack
    report = slack.ws.files[file_id]
    assert report.to_dict("t")["filetype"] == "markdown"  # Slack renders it as Markdown
    assert TITLE in slack.file_content(file_id).decode("utf-8")

    # A diagnostic's overflow goes as a text file: the gateway names it so, and sends UTF-8.
    channel = report.channels[0]
    await sandbox.app.services.slack.upload_file(
        channel, "logs-details.txt", f"{TITLE}\n", "Details", ""
    )
    [details] = [f for f in slack.ws.files.values() if f.filename == "logs-details.txt"]
    assert details.to_dict("t")["filetype"] == "text"
    assert details.content == f"{TITLE}\n".encode()
