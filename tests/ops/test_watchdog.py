"""The alert pipeline's dead-man's switch, on a manual clock: Alertmanager's Watchdog expected
every 15 minutes; told once when it stops arriving and once when it returns; never shown as an
alert thread; replicas and restarts neither double nor lose it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.alerts.service import RETRY_PAUSE_S
from bot.alerts.watchdog import BACK, CHECK_ID
from bot.app import Fireline
from bot.errors import Unavailable
from bot.policy.alerts import AlertPolicy, HeartbeatPolicy
from bot.policy.models import default_policy
from bot.runtime.scheduler import Job
from bot.sandbox.doubles.slack import SlackDouble
from tests.clock import ManualClock
from tests.harness import Builder, Harness
from tests.ops.conftest import scrape, value, watchdog_body

EVERY = 15 * 60


async def until(check: Callable[[], Awaitable[object]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class World:
    """alice in #alerts and #incidents; bots of one build on a manual clock, with a policy that
    expects the Watchdog every 15 minutes."""

    def __init__(self, build: Builder) -> None:
        self.clock = ManualClock()
        policy = default_policy()
        self.policy = policy.model_copy(
            update={"alerts": AlertPolicy(heartbeat=HeartbeatPolicy(every=timedelta(minutes=15)))}
        )
        self.build = (
            build.people("alice")
            .channel("alerts")
            .channel("broadcast", "incidents")
            .clock(self.clock)
            .policy(self.policy)
        )
        self.slack = build.slack
        self.alerts = build.ids["alerts"]
        self.broadcast = build.ids["broadcast"]
        self._first: Harness | None = None

    @property
    def apps(self) -> list[Fireline]:
        return self.build.wiring.apps

    async def replica(self, *, expect_check: bool = True) -> Harness:
        if self._first is None:
            self._first = h = await self.build.start()
        else:
            h = await self._first.replica()
        app = h.app
        app.metrics.min_refresh_s = 0  # every scrape reads Redis again: the test looks twice
        if expect_check:
            await until(lambda: app.scheduler.queue.get(CHECK_ID), "the first check scheduled")
        else:
            assert await app.drain(5.0)  # its start-up work, the watchdog's included, is done
        return h

    def said(self, fragment: str) -> list[str]:
        return [
            m["text"] for m in self.slack.messages(self.alerts) if fragment in m.get("text", "")
        ]

    async def beat(self, h: Harness) -> None:
        """Alertmanager sends the Watchdog; returns once the bot has handled it."""
        status, _ = await h.webhook(watchdog_body())
        assert status == 200
        inbox = h.app.services.alerts.alerts

        async def handled() -> bool:
            return await inbox.backlog() == 0  # an entry leaves the stream once handled

        await until(handled, "the beat handled")

    async def run_due(self) -> None:
        """Returns once every job due by the clock has run to its end, on whichever replica.

        A replica's own scheduler loop also runs due jobs (a beat wakes it for the "back" job,
        `advance()` for the check) and may claim one first: `run_due()` then claims nothing and
        `drain()` does not wait for scheduled jobs, so this waits for the queue instead."""
        first = self.apps[0].services.store
        keys, redis = first.keys, first.redis

        async def done() -> bool:
            for app in self.apps:
                await app.scheduler.run_due()
            for app in self.apps:
                assert await app.drain(5.0)
                await asyncio.wait_for(app.scheduler.settled(), 5.0)
            due = await redis.zrangebyscore(keys.jobs_due, "-inf", self.clock.now().timestamp())
            leased = await redis.zcard(keys.jobs_leased)
            return not due and not leased and not any(app.scheduler.busy for app in self.apps)

        await until(done, "the jobs due by now run on every replica")


async def test_told_once_when_it_stops_and_once_when_it_returns(
    slack: SlackDouble, build: Callable[..., Builder]
) -> None:
    world = World(build())
    try:
        h = await world.replica()
        check = await h.app.scheduler.queue.get(CHECK_ID)
        assert check is not None and check.due == world.clock.now().timestamp() + EVERY

        await world.beat(h)
        assert slack.messages(world.alerts) == []  # a heartbeat is not an alert thread
        world.clock.advance(14 * 60)
        await world.run_due()
        assert world.said("may be broken") == []

        world.clock.advance(2 * 60)  # 16 minutes without it
        await world.run_due()
        assert len(world.said("may be broken")) == 1
        assert "`Watchdog`" in world.said("may be broken")[0]
        assert "16m" in world.said("may be broken")[0]
        _, samples = await scrape(h.app)
        assert value(samples, "fireline_alert_heartbeat_missing") == 1

        # Time goes on, a second replica starts: nothing is said again.
        world.clock.advance(30 * 60)
        await world.replica(expect_check=False)
        await world.run_due()
        assert await h.app.scheduler.queue.get(CHECK_ID) is None  # the next beat schedules it
        assert len(world.said("may be broken")) == 1

        # It arrives again: said once, even when Alertmanager repeats it at once.
        await world.beat(h)
        await world.run_due()
        await world.beat(h)
        await world.run_due()
        assert len(world.said("reaching Fireline again")) == 1
        assert "46m" in world.said("reaching Fireline again")[0]
        _, samples = await scrape(h.app)
        assert value(samples, "fireline_alert_heartbeat_missing") == 0
        beats = [
            value((await scrape(app))[1], "fireline_alert_heartbeats_total") for app in world.apps
        ]
        assert sum(beats) == 3  # each replica counts the beats its own worker handled

        # A second outage is a second warning.
        world.clock.advance(EVERY + 1)
        await world.run_due()
        assert len(world.said("may be broken")) == 2
    finally:
        await world.build.close()


async def test_replicas_say_it_once(slack: SlackDouble, build: Callable[..., Builder]) -> None:
    world = World(build())
    try:
        first = await world.replica()
        second = await world.replica()
        await world.beat(first)
        await world.beat(second)
        world.clock.advance(EVERY + 60)
        await world.run_due()
        await world.run_due()
        assert len(world.said("may be broken")) == 1
        await world.beat(second)
        await world.beat(first)
        await world.run_due()
        assert len(world.said("reaching Fireline again")) == 1
        assert slack.messages(world.alerts, include_replies=True) == slack.messages(world.alerts)
        assert len(slack.messages(world.alerts)) == 2
    finally:
        await world.build.close()


async def test_redis_failing_after_the_beat_loses_no_message(
    build: Callable[..., Builder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The beat is recorded, then Redis fails before the "back" job is scheduled: the worker
    reads the notification again after its pause, and that beat still ends the outage."""
    world = World(build())
    try:
        h = await world.replica()
        world.clock.advance(EVERY + 60)
        await world.run_due()
        assert len(world.said("may be broken")) == 1

        schedule = h.app.scheduler.schedule
        failed: list[str] = []

        async def failing_once(job: Job, *, once: tuple[str, int] | None = None) -> bool:
            if job.kind == BACK and not failed:
                failed.append(job.id)
                raise Unavailable("Redis did not answer (ConnectionError)")
            return await schedule(job, once=once)

        monkeypatch.setattr(h.app.scheduler, "schedule", failing_once)
        status, _ = await h.webhook(watchdog_body())
        assert status == 200
        inbox = h.app.services.alerts.alerts

        async def handled_again() -> bool:
            world.clock.advance(RETRY_PAUSE_S)  # the worker's pause before reading it again
            return bool(failed) and await inbox.backlog() == 0

        await until(handled_again, "the beat handled again after the failure")
        await world.run_due()
        assert len(world.said("reaching Fireline again")) == 1
        _, samples = await scrape(h.app)
        assert value(samples, "fireline_alert_heartbeat_missing") == 0
    finally:
        await world.build.close()


async def test_redis_failing_as_a_scrape_reads_the_heartbeat_is_counted_as_a_redis_error(
    build: Callable[..., Builder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails (as redis-py raises it) while a scrape reads the heartbeat's state: the
    page is served without that figure, and the failure is counted as a Redis error
    (`FirelineRedisErrors` alerts on it), as for any reader Redis fails."""
    world = World(build())
    try:
        h = await world.replica()
        client, heartbeat = h.app.redis.client, h.app.services.store.keys.alert_heartbeat
        _, samples = await scrape(h.app)
        assert value(samples, "fireline_metrics_read_ok", source="heartbeat") == 1
        before = value(samples, "fireline_redis_errors_total", component="metrics")
        real_hexists = client.hexists

        async def failing_hexists(name: Any, *args: Any, **kwargs: Any) -> Any:
            if name == heartbeat:
                raise RedisConnectionError("Connection closed by server.")
            return await real_hexists(name, *args, **kwargs)

        monkeypatch.setattr(client, "hexists", failing_hexists)
        _, samples = await scrape(h.app)
        assert value(samples, "fireline_metrics_read_ok", source="heartbeat") == 0
        assert value(samples, "fireline_metrics_read_ok", source="scheduler") == 1
        assert value(samples, "fireline_redis_errors_total", component="metrics") == before + 1
    finally:
        await world.build.close()
