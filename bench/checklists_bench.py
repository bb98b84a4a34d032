"""Lateness of scheduled checklists with 1,000 open incidents, and CPU used while idle.

    python -m bench.checklists_bench [--incidents 1000] [--spread 20] [--idle 10] [--lead 10]
                                     [--redis-url URL] [--smoke]

1,000 incidents are put in Redis with their 5-minute marks staggered over `--spread` seconds
(0: all due in the same instant), the first due `--lead` seconds after the set-up began; the
scheduler starts once they are all in (the run is refused if that was after the first mark was
due). Each posts its checklist through the real Slack gateway, over one pooled HTTP session as
the bot's, to the Slack Web API double, which runs in its own process (it is Slack, not us).
Lateness is the time from a checklist's due time to Slack's answer to its `chat.postMessage`.
Then, with the 2,000 later marks (15 and 60 minutes) still scheduled, the bot is left idle and
the CPU it uses (`time.process_time`) over `--idle` seconds is measured, with how many times
the scheduler woke up. The CPU this process used while posting (per checklist) is printed too:
on a shared machine it moves less than the lateness does. Ack and update reminders are off so
only checklists are measured.

Checked in every run: each incident's checklist posted exactly once (counted by the bot's
gateway and by the double's channels), and its two later marks still scheduled. Keys use a
fresh prefix and are deleted afterwards; nothing is flushed. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

import aiohttp
from redis.asyncio import Redis

from bench._support import add_smoke_flag, check
from bot.app import SLACK_CONNECTIONS
from bot.checklists.models import load_checklists
from bot.checklists.reminders import ReminderPolicy
from bot.checklists.service import Followups
from bot.clock import SystemClock
from bot.gateways.slack import Blocks, SlackGateway, build_client
from bot.incident import Change, Incident, Severity, declared_entry
from bot.runtime.scheduler import JobQueue, Scheduler
from bot.store.store import Store, new_incident

SETUP_CONCURRENCY = 16
"""Incidents set up at once, so that 1,000 fit in the lead on a busy machine."""


def _run_double(incidents: int, conn: Connection) -> None:
    """The Slack double; asked, how many top-level messages each channel holds; until "stop"."""
    from bot.sandbox.doubles.slack import SlackDouble

    async def main() -> None:
        async with SlackDouble() as double:
            channels = [double.add_channel(f"inc-{n}") for n in range(incidents)]
            conn.send({"api_url": double.api_url, "token": double.bot_token, "channels": channels})
            while await asyncio.get_running_loop().run_in_executor(None, conn.recv) != "stop":
                conn.send({c: len(double.messages(c)) for c in channels})

    asyncio.run(main())


class TimedGateway(SlackGateway):
    """The real gateway, noting when Slack answered each post (by channel)."""

    posted: dict[str, float]
    posts: Counter[str]
    expected: int
    all_posted: asyncio.Event

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
        marker: str | None = None,
    ) -> str:
        ts = await super().post_message(channel, text, blocks, thread_ts=thread_ts, marker=marker)
        self.posted.setdefault(channel, time.time())
        self.posts[channel] += 1
        if len(self.posted) >= self.expected:
            self.all_posted.set()
        return ts


def _provisioned_in(channel: str) -> Callable[[Incident], Change]:
    def change(incident: Incident) -> Change:
        return incident.model_copy(update={"channel_id": channel, "provisioned": True}), []

    return change


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    incidents: int, spread: float, idle_s: float, lead_s: float, redis_url: str
) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    double = ctx.Process(target=_run_double, args=(incidents, there), daemon=True)
    double.start()
    there.close()  # so that a double that died is an EOFError here, not a hang
    info = here.recv()
    loop = asyncio.get_running_loop()

    redis = Redis.from_url(redis_url)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    store = Store(redis, prefix=prefix)
    clock = SystemClock()
    slack = TimedGateway(build_client(info["token"], info["api_url"]))
    # The bot's one pooled session (`Fireline.start`): without it slack_sdk opens a session and
    # a connection per call, and that, not the bot, is what would be measured.
    slack.client.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS)
    )
    slack.posted, slack.posts = {}, Counter()
    slack.expected, slack.all_posted = incidents, asyncio.Event()
    scheduler = Scheduler(JobQueue(store), clock)
    followups = Followups(
        store,
        slack,
        clock,
        scheduler,
        load_checklists(),
        ReminderPolicy.parse(ack_deadlines="", update_reminders=""),
        broadcast_channel=None,
    )
    try:
        # Marks due from start + lead, one every spread/incidents seconds.
        first = datetime.now(UTC) + timedelta(seconds=lead_s) - timedelta(minutes=5)
        due: dict[str, float] = {}
        declaring = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def declare(n: int, channel: str) -> None:
            created = first + timedelta(seconds=spread * n / incidents)
            template = new_incident(
                title=f"Bench {n}", severity=Severity.P2, reporter="U0BENCH", now=created
            )
            async with declaring:
                incident, _ = await store.create_incident(
                    f"bench-{n}", template, declared_entry(template)
                )
                incident, _ = await store.mutate(incident.id, _provisioned_in(channel))
                await followups.declared(incident)
            due[channel] = created.timestamp() + 5 * 60

        await asyncio.gather(*(declare(n, c) for n, c in enumerate(info["channels"])))
        headroom = min(due.values()) - time.time()
        check(headroom > 0, f"set-up outlasted --lead {lead_s:g} s by {-headroom:.1f} s: raise it")

        cpu_posting = time.process_time()
        runner = asyncio.ensure_future(scheduler.run_forever())
        with contextlib.suppress(TimeoutError):  # reported as fewer posted than incidents
            await asyncio.wait_for(slack.all_posted.wait(), lead_s + spread + 30)
        cpu_posting = time.process_time() - cpu_posting
        wakeups_posting = scheduler.wakeups
        late = [slack.posted[c] - due[c] for c in slack.posted]

        await asyncio.sleep(1.0)  # let the last runs finish their bookkeeping
        wakeups = scheduler.wakeups
        cpu = time.process_time()
        await asyncio.sleep(idle_s)
        cpu_idle = time.process_time() - cpu
        wakeups = scheduler.wakeups - wakeups
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        still_scheduled = await redis.zcard(store.keys.jobs_due)
        here.send("count")
        in_slack: dict[str, int] = await loop.run_in_executor(None, here.recv)
    finally:
        with contextlib.suppress(OSError):  # the double died: the error that says so is raised
            here.send("stop")
        double.join(5)
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()
        if slack.client.session is not None:
            await slack.client.session.close()

    check(len(late) == incidents, f"{len(late)} checklists posted for {incidents} incidents")
    twice = {c: n for c, n in slack.posts.items() if n > 1}
    check(not twice, f"checklists posted more than once: {twice}")
    wrong = {c: n for c, n in in_slack.items() if n != 1}
    check(not wrong, f"channels without exactly one message in Slack: {wrong}")
    check(
        still_scheduled == 2 * incidents,
        f"{still_scheduled} later marks scheduled, expected {2 * incidents}",
    )
    return {
        "posted": len(late),
        "late_p50_ms": 1000 * statistics.median(late),
        "late_p99_ms": 1000 * _pct(late, 0.99),
        "late_max_ms": 1000 * max(late),
        "late_min_ms": 1000 * min(late),
        "posting_cpu_ms": 1000 * cpu_posting,
        "posting_wakeups": wakeups_posting,
        "idle_cpu_ms": 1000 * cpu_idle,
        "idle_cpu_pct": 100 * cpu_idle / idle_s,
        "idle_wakeups": wakeups,
        "idle_s": idle_s,
        "still_scheduled": still_scheduled,
        "headroom_s": headroom,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds the marks span")
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    parser.add_argument(
        "--lead", type=float, default=10.0, help="seconds from the set-up's start to the first mark"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.incidents, args.spread, args.idle, args.lead = 20, 1.0, 1.0, 2.0
    result = asyncio.run(run(args.incidents, args.spread, args.idle, args.lead, args.redis_url))
    print(
        f"{result['posted']:.0f} checklists posted: lateness p50 {result['late_p50_ms']:.1f} ms, "
        f"p99 {result['late_p99_ms']:.1f} ms, max {result['late_max_ms']:.1f} ms, "
        f"min {result['late_min_ms']:.1f} ms "
        f"(scheduler started {result['headroom_s']:.1f} s before the first mark)"
    )
    print(
        f"CPU while posting: {result['posting_cpu_ms']:.0f} ms, "
        f"{result['posting_cpu_ms'] / result['posted']:.2f} ms per checklist (this process: "
        f"scheduler, store, gateway; not the Slack double), "
        f"{result['posting_wakeups']:.0f} scheduler wake-ups"
    )
    print(
        f"idle {result['idle_s']:.0f} s with {result['still_scheduled']:.0f} jobs scheduled: "
        f"CPU {result['idle_cpu_ms']:.1f} ms ({result['idle_cpu_pct']:.2f} %), "
        f"{result['idle_wakeups']:.0f} scheduler wake-ups"
    )
    print(f"load average (1 min, {os.cpu_count()} CPUs): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    cli()
