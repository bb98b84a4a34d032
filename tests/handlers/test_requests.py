"""The Slack and HTTP glue as Slack and probes meet it: signatures, stale and malformed requests
refused without changing anything, health and readiness answered."""

from __future__ import annotations

import time

import aiohttp

from tests.harness import Harness, post_signed


async def test_bad_signatures_and_stale_requests_are_refused(harness: Harness) -> None:
    h = harness
    response = await h.slack.slash_command(h.alice, h.room, "declare P0 Fake", bad_signature=True)
    assert response.status == 401
    assert await h.app.services.store.list_ids(open_only=False) == []


async def test_stale_timestamp_is_refused(harness: Harness) -> None:
    h = harness
    delivery = await h.command(h.alice, "list")
    form = {k: str(v) for k, v in delivery.payload.items()}
    stale = int(time.time()) - 6 * 60
    assert await post_signed(f"{h.app.url}/slack/events", form, timestamp=stale) == 401
    assert await post_signed(f"{h.app.url}/slack/events", form) == 200


async def test_malformed_payloads_change_nothing(harness: Harness) -> None:
    h = harness
    url = f"{h.app.url}/slack/events"
    assert await post_signed(url, {"payload": "{not json"}) == 400
    assert await post_signed(url, {"command": "/incident"}) in {200, 400, 404}
    assert await h.app.services.store.list_ids(open_only=False) == []
    async with aiohttp.ClientSession() as session, session.get(f"{h.app.url}/healthz") as r:
        assert r.status == 200


async def test_health_and_readiness(harness: Harness) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{harness.app.url}/healthz") as r:
            assert r.status == 200
        async with session.get(f"{harness.app.url}/readyz") as r:
            assert r.status == 200 and (await r.json())["checks"] == {
                "redis": True,
                "slack": True,
                "slack_access": True,
            }
