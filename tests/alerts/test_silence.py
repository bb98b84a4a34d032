"""Silence 1 h against the real Alertmanager: created through API v2, read back, recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.alerts import views as alert_blocks
from tests.alerts.alertmanager_process import running_alertmanager
from tests.harness import WEBHOOK_TOKEN, Harness, eventually
from tests.playbooks.world import SHIPPED
from tests.ports import free_port


async def get(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def post(url: str, body: Any) -> None:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        assert response.status == 200, await response.text()


def group_of(world: Harness) -> tuple[dict[str, Any], str]:
    [parent] = world.slack.messages(world.alerts)
    group_id = next(
        e["value"]
        for b in parent["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == alert_blocks.SILENCE_ALERT
    )
    return parent, group_id


@pytest.mark.process
@pytest.mark.slow
async def test_silence_for_an_hour_through_the_real_alertmanager(
    make_world, tmp_path: Path
) -> None:
    # Alertmanager delivers to the bot's port, and the bot knows Alertmanager's address.
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/webhooks/alertmanager"
    async with running_alertmanager(tmp_path, webhook, WEBHOOK_TOKEN) as am:
        world = await make_world(alertmanager_url=am, http_port=port)
        example = SHIPPED.by_name["memory-leak"].example
        await post(
            f"{am}/api/v2/alerts",
            [
                {
                    "labels": example.all_labels,
                    "annotations": example.annotations,
                    "generatorURL": "http://prometheus.example/graph",
                }
            ],
        )
        await eventually(lambda: world.slack.messages(world.alerts), 15.0, "the alert thread")
        await world.alerts_done()
        parent, group_id = group_of(world)

        await world.slack.click_button(
            world.viewer, world.alerts, parent["ts"], alert_blocks.SILENCE_ALERT, group_id
        )
        denied = await world.told(world.viewer, "🚫")
        assert "needs the role responder; you have viewer" in denied

        clicked_at = datetime.now(UTC)
        for _ in range(2):  # a double click makes one silence
            await world.slack.click_button(
                world.oncall, world.alerts, parent["ts"], alert_blocks.SILENCE_ALERT, group_id
            )
            assert await world.app.drain(10.0)
        await world.told(world.oncall, "already silenced by")

        silences = await get(f"{am}/api/v2/silences")
        [silence] = [s for s in silences if s["status"]["state"] == "active"]
        matchers = {m["name"]: m["value"] for m in silence["matchers"]}
        assert matchers == example.all_labels
        assert all(not m["isRegex"] and m.get("isEqual", True) for m in silence["matchers"])
        assert world.oncall in silence["createdBy"]
        ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
        assert timedelta(minutes=59) < ends - clicked_at < timedelta(minutes=61)

        note = await eventually(
            lambda: next(
                (
                    m["text"]
                    for m in world.replies(world.alerts, parent["ts"])
                    if "🔕" in m.get("text", "")
                ),
                None,
            ),
            10.0,
        )
        assert f"<@{world.oncall}> silenced these alerts until <!date^" in note
        assert silence["id"] in note

        # Alertmanager now suppresses the alert with that silence.
        [alert] = await get(f"{am}/api/v2/alerts?silenced=true")
        assert alert["status"]["state"] == "suppressed"
        assert alert["status"]["silencedBy"] == [silence["id"]]


async def test_without_an_alertmanager_url_the_button_says_what_to_set(make_world) -> None:
    from tests.playbooks.world import notification

    world = await make_world()
    await world.webhook(notification(SHIPPED.by_name["memory-leak"].example))
    await world.alerts_done()
    parent, group_id = group_of(world)
    await world.slack.click_button(
        world.oncall, world.alerts, parent["ts"], alert_blocks.SILENCE_ALERT, group_id
    )
    told = await world.told(world.oncall, "FIRELINE_ALERTMANAGER_URL")
    assert "Silences are not configured" in told
