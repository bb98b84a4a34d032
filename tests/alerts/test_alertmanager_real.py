"""A real Alertmanager (Debian's prometheus-alertmanager, loopback only) delivering to the bot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.alerts.alertmanager_process import running_alertmanager
from tests.harness import WEBHOOK_TOKEN, Harness


@pytest.fixture
async def alertmanager(harness: Harness, tmp_path: Path) -> AsyncIterator[str]:
    webhook = f"{harness.app.url}/webhooks/alertmanager"
    async with running_alertmanager(tmp_path, webhook, WEBHOOK_TOKEN) as url:
        yield url


async def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/api/v2/alerts",
            data=json.dumps(alerts),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()


def alert(pod: str, *, ends: datetime | None = None) -> dict[str, Any]:
    body = {
        "labels": {
            "alertname": "PodMemoryGrowing",
            "namespace": "orion-prod",
            "deployment": "task-service",
            "pod": pod,
            "severity": "warning",
        },
        "annotations": {"summary": "Memory usage climbing over time"},
        "startsAt": "2026-11-22T18:45:12Z",
        "generatorURL": "http://prometheus.example/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return body


async def wait_for(check, limit_s: float = 15.0):
    for _ in range(int(limit_s / 0.1)):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("Alertmanager's notification did not show up in Slack in time")


@pytest.mark.process
@pytest.mark.slow
async def test_alertmanager_fires_groups_and_resolves_into_one_thread(
    harness: Harness, alertmanager: str
) -> None:
    h = harness
    await post_alerts(alertmanager, [alert("task-service-abc12"), alert("task-service-def34")])
    [parent] = await wait_for(lambda: h.alert_parents() or None)
    assert "PodMemoryGrowing" in parent["text"] and "FIRING" in parent["text"]

    await post_alerts(alertmanager, [alert("task-service-ghi56")])  # joins the same group
    await wait_for(lambda: "3 firing" in json.dumps(h.alert_parents()[0]["blocks"]))

    ended = datetime.now(UTC) - timedelta(seconds=1)
    await post_alerts(
        alertmanager,
        [
            alert(p, ends=ended)
            for p in ("task-service-abc12", "task-service-def34", "task-service-ghi56")
        ],
    )
    await wait_for(lambda: "RESOLVED" in h.alert_parents()[0]["text"])
    assert len(h.alert_parents()) == 1  # never a new parent
    thread = h.slack.thread(h.alerts, parent["ts"])
    assert "All alerts in this group are resolved" in thread[-1]["text"]
