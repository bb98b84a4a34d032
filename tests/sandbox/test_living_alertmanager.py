"""Silence 1 h from the sandbox lands in a real Alertmanager (Debian's, started by the sandbox
on a free loopback port), and the alert's links open pages the sandbox serves."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import httpx
import pytest

from bot.alerts import views as alert_views
from bot.errors import ConfigurationError
from bot.sandbox.world import Sandbox, SandboxOptions
from bot.store.server import RedisHandle
from tests.harness import eventually
from tests.sandbox.test_living import person


@pytest.fixture
def real_alertmanager() -> bool:
    return True


@pytest.mark.process
async def test_silence_lands_in_the_real_alertmanager_and_links_open_sandbox_pages(
    sandbox: Sandbox,
) -> None:
    assert sandbox.observatory is not None and sandbox.observatory.real is not None
    assert sandbox.targets is not None
    riley = person(sandbox, "riley")
    example = next(e for e in sandbox.alert_examples() if e.alertname == "HighErrorRate")
    assert await sandbox.fire_alert(example) == 200
    alerts = sandbox.channels["alerts"]
    parent = await eventually(lambda: next(iter(sandbox.slack.messages(alerts)), None), 15.0)
    group_id = next(
        e["value"]
        for b in parent["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == alert_views.SILENCE_ALERT
    )
    await sandbox.slack.click_button(
        riley, alerts, parent["ts"], alert_views.SILENCE_ALERT, group_id
    )
    am = sandbox.targets.alertmanager_url
    async with httpx.AsyncClient() as client:
        found: list[dict[str, Any]] = []
        for _ in range(150):  # wait for the silence (the click is handled after its ack)
            found = (await client.get(f"{am}/api/v2/silences")).json()
            if found:
                break
            await asyncio.sleep(0.1)
        assert found, "no silence reached Alertmanager"
        matchers = {m["name"]: m["value"] for m in found[0]["matchers"]}
        assert matchers["alertname"] == "HighErrorRate" and matchers["service"] == "checkout"
        links = re.findall(r"<(http://127\.0\.0\.1:\d+/[^|>]*)", str(parent))
        assert links, parent
        for link in links:
            page = await client.get(link.replace("&amp;", "&"))
            assert page.status_code == 200, link
        graph = await client.get(sandbox.targets.graph_url)
        assert "This is not a Prometheus server" in graph.text


@pytest.mark.process
async def test_the_real_alertmanager_goes_with_the_sandbox_even_when_start_up_fails(
    redis_handle: RedisHandle, prefix: str
) -> None:
    """A taken port fails the start after Alertmanager is up: `stop()` (which `fireline
    sandbox` always runs) still ends it, and frees its port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        options = SandboxOptions(
            http_port=taken.getsockname()[1], redis=redis_handle, redis_prefix=prefix
        )
        sandbox = Sandbox(options)
        with pytest.raises(ConfigurationError, match="already in use"):
            await sandbox.start()
    assert sandbox.observatory is not None and sandbox.observatory.real is not None
    real = sandbox.observatory.real
    process = real._process
    assert process is not None and process.returncode is None  # it was running
    await sandbox.stop()
    assert process.returncode is not None
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{real.url}/-/ready")
