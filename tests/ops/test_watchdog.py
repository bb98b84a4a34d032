"""The alert pipeline's dead-man's switch, on a manual clock: Alertmanager's Watchdog expected
every 15 minutes; told once when it stops arriving and once when it returns; never shown as an
alert thread; replicas and restarts neither double nor lose it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.alerts.watchdog import CHECK_ID
from bot.app import Deps, Fireline, create_app
from bot.policy.alerts import AlertPolicy, HeartbeatPolicy
from bot.policy.models import default_policy
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.clock import ManualClock
from tests.e2e.harness import NO_PLAYBOOKS, WEBHOOK_TOKEN, Harness, settings_for
from tests.ops.conftest import scrape, value, watchdog_body

EVERY = 15 * 60


async def until(check: Callable[[], Awaitable[object]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class World:
    def __init__(self, slack: SlackDouble, redis: RedisHandle, prefix: str) -> None:
        self.slack, self.redis, self.prefix = slack, redis, prefix
        self.clock = ManualClock()
        self.alice = slack.add_user("alice")
        self.alerts = slack.add_channel("alerts", members=[self.alice])
        self.broadcast = slack.add_channel("incidents", members=[self.alice])
        self.apps: list[Fireline] = []
        policy = default_policy()
        self.policy = policy.model_copy(
            update={"alerts": AlertPolicy(heartbeat=HeartbeatPolicy(every=timedelta(minutes=15)))}
        )

    async def replica(self, *, expect_check: bool = True) -> Harness:
        settings = settings_for(
            self.slack,
            self.broadcast,
            redis_prefix=self.prefix,
            alerts_channel=self.alerts,
            webhook_token=WEBHOOK_TOKEN,
        )
        deps = Deps(redis=self.redis, playbooks=NO_PLAYBOOKS, clock=self.clock, policy=self.policy)
        app = create_app(settings, deps)
        await app.start()
        app.metrics.min_refresh_s = 0  # every scrape reads Redis again: the test looks twice
        self.slack.request_url = f"{app.url}/slack/events"
        self.apps.append(app)
        if expect_check:
            await until(lambda: app.scheduler.queue.get(CHECK_ID), "the first check scheduled")
        else:
            assert await app.drain(5.0)  # its start-up work, the watchdog's included, is done
        return Harness(
            self.slack, app, self.alice, self.alice, self.alice, "", self.broadcast, self.alerts
        )

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
        for app in self.apps:
            await app.scheduler.run_due()
        for app in self.apps:
            assert await app.drain(5.0)


async def test_told_once_when_it_stops_and_once_when_it_returns(
    slack, redis_handle, prefix
) -> None:
    world = World(slack, redis_handle, prefix)
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
        for app in world.apps:
            await app.stop()


async def test_replicas_say_it_once(slack, redis_handle, prefix) -> None:
    world = World(slack, redis_handle, prefix)
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
        for app in world.apps:
            await app.stop()
