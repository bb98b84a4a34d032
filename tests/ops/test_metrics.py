"""`/metrics`: what the bot measures, read from a running bot over HTTP; bounded labels; no IDs;
Redis figures read at scrape time without holding the scrape; one registry per app."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import redis.exceptions

from bot.alerts.outbox import CLASS_SPAN, THREAD
from bot.errors import Unavailable
from bot.metrics import Metrics
from bot.runtime.scheduler import Job, JobQueue, Scheduler
from bot.store.server import RedisHandle
from bot.store.store import Store
from tests.alerts.storm import notification
from tests.clock import ManualClock
from tests.harness import WEBHOOK_TOKEN
from tests.ops.conftest import parse, scrape, value


async def test_a_running_bot_counts_acks_slack_calls_webhooks_and_actions(bots) -> None:
    h = await bots()
    await h.command(h.alice, "help")
    await h.command(h.alice, "pods checkout")
    status, _ = await h.webhook(notification(1, 2))
    assert status == 200
    assert (await h.webhook(notification(2, 2), token="wrong"))[0] == 401
    await h.alerts_done()

    text, samples = await scrape(h.app)
    assert value(samples, "fireline_ack_seconds_count", kind="command") == 2
    assert value(samples, "fireline_ack_seconds_bucket", kind="command", le="3.0") == 2
    assert value(samples, "fireline_slack_calls_total", method="chat.postMessage", outcome="ok")
    assert value(samples, "fireline_alertmanager_notifications_total", outcome="accepted") == 1
    assert value(samples, "fireline_alertmanager_notifications_total", outcome="unauthorized") == 1
    assert value(samples, "fireline_outbox_sends_total", outcome="sent") >= 1
    assert value(samples, "fireline_outbox_depth", channel="alerts") == 0
    assert value(samples, "fireline_metrics_read_ok", source="outbox") == 1
    assert value(samples, "fireline_metrics_read_ok", source="scheduler") == 1
    diagnostics = {k: v for k, v in samples.items() if k[0] == "fireline_diagnostics_total"}
    assert [dict(k[1])["action"] for k in diagnostics] == ["pods"]
    assert sum(diagnostics.values()) == 1

    # Nothing that identifies a person, a channel, an incident or a secret.
    for secret in (h.slack.bot_token, WEBHOOK_TOKEN, h.alerts, h.broadcast, h.war_room, h.alice):
        assert secret not in text
    assert "INC-" not in text


async def test_outbox_depth_age_and_parked_are_read_from_redis_at_scrape_time(bots) -> None:
    h = await bots()
    h.app.outbox.stop()  # nothing drains: what is queued stays queued
    await h.settle()
    keys, client = h.app.services.store.keys, h.app.redis.client
    queued_at_ms = int((time.time() - 600) * 1000)
    await client.zadd(
        keys.outbox_queue(h.alerts), {"thread:old": THREAD * CLASS_SPAN + queued_at_ms}
    )
    await client.zadd(
        keys.outbox_queue(h.alerts), {"thread:new": THREAD * CLASS_SPAN + queued_at_ms + 590_000}
    )
    await client.zadd(
        keys.outbox_queue("C0UNKNOWN1"), {"thread:x": THREAD * CLASS_SPAN + queued_at_ms}
    )
    await client.sadd(keys.outbox_channels, h.alerts, "C0UNKNOWN1")
    await client.hset(keys.outbox_parked(h.alerts), "parent:g1", '{"why": "x", "class": 1}')
    await client.sadd(keys.outbox_parked_channels, h.alerts)

    text, samples = await scrape(h.app)
    assert value(samples, "fireline_outbox_depth", channel="alerts") == 2
    assert value(samples, "fireline_outbox_depth", channel="other") == 1
    assert 600 <= value(samples, "fireline_outbox_oldest_age_seconds", channel="alerts") < 700
    assert value(samples, "fireline_outbox_parked", channel="alerts") == 1
    assert value(samples, "fireline_outbox_depth", channel="broadcast") == 0
    assert "C0UNKNOWN1" not in text

    await client.zrem(keys.outbox_queue(h.alerts), "thread:old", "thread:new")
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_outbox_depth", channel="alerts") == 0
    assert value(samples, "fireline_outbox_oldest_age_seconds", channel="alerts") == 0


async def test_redis_failing_as_a_scrape_reads_the_outbox_is_counted_as_a_redis_error(
    bots, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails (as redis-py raises it) while a scrape reads the outbox's figures: the page
    is served, the outbox's figures are lost for that scrape, and the failure is counted as a
    Redis error (`FirelineRedisErrors` alerts on it), as for any reader Redis fails."""
    h = await bots()
    client, channels = h.app.redis.client, h.app.services.store.keys.outbox_channels
    real_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        async def execute(*a: Any, **kw: Any) -> Any:
            if any(channels in command for command, _ in pipe.command_stack):
                await pipe.reset()
                raise redis.exceptions.ConnectionError("Connection closed by server.")
            return await real_execute(*a, **kw)

        pipe.execute = execute
        return pipe

    _, samples = await scrape(h.app)
    assert value(samples, "fireline_metrics_read_ok", source="outbox") == 1
    before = value(samples, "fireline_redis_errors_total", component="metrics")
    monkeypatch.setattr(client, "pipeline", pipeline)
    _, samples = await scrape(h.app)
    assert value(samples, "fireline_metrics_read_ok", source="outbox") == 0
    assert value(samples, "fireline_metrics_read_ok", source="scheduler") == 1
    assert value(samples, "fireline_redis_errors_total", component="metrics") == before + 1


async def test_each_bot_in_one_process_serves_its_own_registry(bots, prefix: str) -> None:
    first = await bots(prefix=f"{prefix}a:")
    second = await bots(prefix=f"{prefix}b:")  # the double now delivers to the second
    await second.command(second.alice, "help")
    _, one = await scrape(first.app)
    _, two = await scrape(second.app)
    assert value(one, "fireline_ack_seconds_count", kind="command") == 0
    assert value(two, "fireline_ack_seconds_count", kind="command") == 1
    assert first.app.metrics.registry is not second.app.metrics.registry


async def test_a_slow_or_failing_reader_loses_only_its_figure() -> None:
    metrics = Metrics()
    stuck = asyncio.Event()

    async def slow(m: Metrics) -> None:
        await stuck.wait()  # never set: Redis that does not answer

    async def broken(m: Metrics) -> None:
        raise Unavailable("Redis did not answer") from redis.exceptions.ConnectionError("x")

    async def fine(m: Metrics) -> None:
        m.scheduler_overdue.set(7)

    metrics.read_at_scrape("outbox", slow)
    metrics.read_at_scrape("heartbeat", broken)
    metrics.read_at_scrape("scheduler", fine)
    await metrics.refresh(timeout_s=0.05)
    samples = parse(metrics.exposition().decode())
    assert value(samples, "fireline_metrics_read_ok", source="outbox") == 0
    assert value(samples, "fireline_metrics_read_ok", source="heartbeat") == 0
    assert value(samples, "fireline_metrics_read_ok", source="scheduler") == 1
    assert value(samples, "fireline_scheduler_overdue_seconds") == 7
    assert value(samples, "fireline_redis_errors_total", component="metrics") == 2


async def test_scrapes_read_redis_at_most_once_a_second() -> None:
    metrics = Metrics()
    reads = 0

    async def reader(m: Metrics) -> None:
        nonlocal reads
        reads += 1

    metrics.read_at_scrape("outbox", reader)
    await asyncio.gather(*(metrics.refresh() for _ in range(50)))
    assert reads == 1


def test_labels_stay_bounded() -> None:
    metrics = Metrics()
    metrics.name_channels({"C0ALERTS01": "alerts"})
    metrics.slack_call("chat.postMessage", "a_code_slack_invents_tomorrow")
    metrics.slack_call("chat.postMessage", "ratelimited")
    metrics.ack("something_new", 0.1)
    samples = parse(metrics.exposition().decode())
    calls = "fireline_slack_calls_total"
    assert value(samples, calls, method="chat.postMessage", outcome="other") == 1
    assert value(samples, calls, method="chat.postMessage", outcome="ratelimited") == 1
    assert value(samples, "fireline_slack_rate_limited_total", method="chat.postMessage") == 1
    assert value(samples, "fireline_ack_seconds_count", kind="other") == 1
    assert metrics.channel("C0ALERTS01") == "alerts"
    assert metrics.channel("C0SOMEONE9") == "other"


async def test_scheduler_lateness_failures_and_overdue(
    redis_handle: RedisHandle, prefix: str
) -> None:
    clock = ManualClock()
    metrics = Metrics()
    queue = JobQueue(Store(redis_handle.client, prefix=prefix))

    async def ok(job: Job, late_by: float) -> None:
        pass

    async def broken(job: Job, late_by: float) -> None:
        raise RuntimeError("a bug")

    scheduler = Scheduler(queue, clock, {"ok": ok, "broken": broken}, metrics=metrics)
    now = clock.now().timestamp()
    await scheduler.schedule(Job(id="a", kind="ok", due=now))
    await scheduler.schedule(Job(id="b", kind="broken", due=now))
    clock.advance(4)
    await scheduler.report(metrics)
    assert metrics.scheduler_overdue._value.get() == 4
    await scheduler.run_due()
    await scheduler.report(metrics)
    samples = parse(metrics.exposition().decode())
    assert value(samples, "fireline_scheduler_lateness_seconds_count", kind="ok") == 1
    assert value(samples, "fireline_scheduler_lateness_seconds_bucket", kind="ok", le="2.0") == 0
    assert value(samples, "fireline_scheduler_lateness_seconds_bucket", kind="ok", le="5.0") == 1
    assert value(samples, "fireline_job_failures_total", kind="broken", outcome="error") == 1
    assert value(samples, "fireline_scheduler_overdue_seconds") == 0


async def test_metrics_needs_no_credentials_and_takes_no_body(bots) -> None:
    h = await bots()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{h.app.url}/metrics", headers={"Authorization": "x"}) as r:
            assert r.status == 200
        async with session.post(f"{h.app.url}/metrics", data=b"x" * 10) as r:
            assert r.status == 405


@pytest.mark.parametrize("code", ["not_in_channel", "invalid_auth"])
def test_the_self_health_codes_are_kept_as_outcomes(code: str) -> None:
    metrics = Metrics()
    metrics.slack_call("chat.update", code)
    samples = parse(metrics.exposition().decode())
    assert value(samples, "fireline_slack_calls_total", method="chat.update", outcome=code) == 1
