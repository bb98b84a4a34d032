"""The shared Slack budget: tiers as Slack's reference states them, priorities, Retry-After."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.gateways.slack_budget import POST_BURST, TIERS, Priority, SlackBudget
from bot.store.store import Keys

REFERENCE = Path(__file__).parents[2] / "bot" / "sandbox" / "doubles" / "slack_api_ref" / "methods"


def test_tiers_are_the_method_references() -> None:
    for method, tier in TIERS.items():
        spec = json.loads((REFERENCE / f"{method}.json").read_text())
        assert spec["rate_limits"] == tier, method


@pytest.mark.slow
async def test_incident_calls_go_ahead_of_waiting_alert_calls(
    redis_server: Redis, prefix: str
) -> None:
    budget = SlackBudget(redis_server, Keys(prefix), scale=2.0)  # 2 posts a second
    for _ in range(int(POST_BURST)):
        await budget.acquire("chat.postMessage", "C1", Priority.INCIDENT)
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await budget.acquire("chat.postMessage", "C1", priority)
        order.append(name)

    alerts = [asyncio.create_task(take(f"alert{n}", Priority.ALERT)) for n in range(2)]
    await asyncio.sleep(0.05)  # the alert calls are waiting first
    await take("incident", Priority.INCIDENT)
    await asyncio.gather(*alerts)
    assert order[0] == "incident"


@pytest.mark.slow
async def test_two_budgets_on_one_redis_share_the_channel_rate(
    redis_server: Redis, prefix: str
) -> None:
    replicas = [SlackBudget(redis_server, Keys(prefix), scale=10.0) for _ in range(2)]
    start = time.monotonic()
    await asyncio.gather(
        *[r.acquire("chat.postMessage", "C1", Priority.ALERT) for r in replicas for _ in range(6)]
    )
    # 12 posts at 10 a second, the first few from the burst: ~1 s, not the ~0.5 s of two buckets.
    assert time.monotonic() - start > 0.8


@pytest.mark.slow
async def test_retry_after_blocks_the_bucket_for_everyone(redis_server: Redis, prefix: str) -> None:
    a, b = (SlackBudget(redis_server, Keys(prefix)) for _ in range(2))
    await a.blocked("chat.update", None, 1.0)
    start = time.monotonic()
    await b.acquire("chat.update", None, Priority.INCIDENT)
    assert time.monotonic() - start > 0.9
