"""Fireline at scale: 10,000 open incidents with their checklists and reminders scheduled.

    python -m bench.scale_bench [--incidents 10000] [--due 1000] [--groups 1000] [--idle 10]
                                [--lead 20] [--no-budget] [--smoke]

On a private `redis-server` (a Unix socket in a temporary directory, no TCP port; stopped
afterwards), so that its memory figures are Fireline's alone:

1. `--incidents` minus `--due` open incidents (P1, P2 and P3 in turn) are declared and
   provisioned through the store, and `Followups.declared()` schedules what the bot schedules
   for each: its checklists, the acknowledgement reminder and escalation, the update reminder.
   Redis memory per incident: `used_memory` after, less before, divided by their number; and
   `MEMORY USAGE` of one incident's keys by kind.
2. `--due` more (P2) are set up the same way, created 5 minutes before a common instant T
   (`--lead` seconds after their set-up began), so that 1,000 checklists fall due at T, in the
   same instant, among the 50,000-odd jobs of the others. The scheduler (with the checklist
   handlers, as the bot runs them) starts once they are in; each checklist goes through the
   real Slack gateway, over one pooled HTTP session as the bot's, to the Slack Web API double,
   in its own process. Lateness: from T to Slack's answer to each `chat.postMessage`.
   Each call first takes its tokens from the shared Redis budget as the bot's do
   (`--no-budget`: without it, as `checklists_bench` measures).
3. The bot idles for `--idle` seconds with every later job scheduled: its CPU
   (`time.process_time`: the scheduler's loop, nothing else runs) and the scheduler's wake-ups.
4. `--groups` alert groups of two alerts each go through `AlertThreads.handle` and the outbox
   posts their parents and threads to the double. Redis memory per alert group: after the
   outbox drained, less before, divided by their number.

Checked in every run: each due checklist posted exactly once (by the gateway's count and in
the double's channels), no other job ran, every other job still scheduled, every alert group
shown. Only loopback and a Unix socket are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench._support import add_smoke_flag, check
from bench.checklists_bench import SETUP_CONCURRENCY, TimedGateway, _pct, _provisioned_in
from bot.alerts.outbox import Outbox
from bot.alerts.payload import parse
from bot.alerts.service import AlertThreads
from bot.alerts.store import AlertStore
from bot.alerts.writer import AlertWriter
from bot.app import SLACK_CONNECTIONS
from bot.checklists.models import load_checklists
from bot.checklists.reminders import ReminderPolicy
from bot.checklists.service import Followups
from bot.clock import SystemClock
from bot.gateways.slack import SlackGateway, build_client
from bot.gateways.slack_budget import SlackBudget
from bot.incident import Severity, declared_entry
from bot.runtime.scheduler import JobQueue, Scheduler
from bot.store.store import Store, new_incident
from tests.alerts import storm

BACKGROUND = (Severity.P1, Severity.P2, Severity.P3)
PREFIX = "fireline:"


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a Unix socket (no TCP port); its socket path."""
    with tempfile.TemporaryDirectory(prefix="fireline-scale-") as tmp:
        socket = Path(tmp) / "redis.sock"
        server = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", str(socket), "--save", "",
             "--appendonly", "no", "--dir", tmp, "--logfile", str(Path(tmp) / "redis.log")],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not socket.exists():
                check(server.poll() is None and time.monotonic() < deadline, "no redis-server")
                time.sleep(0.02)
            yield str(socket)
        finally:
            server.terminate()
            server.wait(10)


def _run_double(channels: int, conn: Connection) -> None:
    """The Slack double; asked, how many top-level messages each channel holds; until "stop"."""
    from bot.sandbox.doubles.slack import SlackDouble

    async def main() -> None:
        async with SlackDouble() as double:
            ids = [double.add_channel(f"inc-{n}") for n in range(channels)]
            alerts = double.add_channel("alerts")
            conn.send({"api_url": double.api_url, "token": double.bot_token, "channels": ids,
                       "alerts": alerts})  # fmt: skip
            while (
                asked := await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            ) != "stop":
                if asked == "cpu":  # how much CPU Slack's side used, for the reading
                    conn.send(time.process_time())
                else:
                    conn.send({c: len(double.messages(c)) for c in [*ids, alerts]})

    asyncio.run(main())


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def memory_by_kind(redis: Redis, incident_id: str) -> dict[str, int]:
    """`MEMORY USAGE` of every key of one incident, by kind (the ID replaced by `<id>`)."""
    found: dict[str, int] = {}
    async for raw in redis.scan_iter(match=f"*{incident_id}:*", count=1000):
        found[raw.decode().replace(incident_id, "<id>")] = 0
    for key in [f"{PREFIX}incident:{incident_id}", f"{PREFIX}jobs:group:{incident_id}"]:
        found[key.replace(incident_id, "<id>")] = 0
    sizes: dict[str, int] = defaultdict(int)
    for kind in found:
        key = kind.replace("<id>", incident_id)
        sizes[kind.removeprefix(PREFIX)] += int(await redis.memory_usage(key, samples=0) or 0)
    return dict(sorted(sizes.items()))


class Bot:
    """The pieces of the bot this benchmark runs: store, gateway, scheduler, follow-ups."""

    def __init__(self, redis: Redis, info: dict[str, Any], budget: bool) -> None:
        self.redis = redis
        self.store = Store(redis, prefix=PREFIX)
        self.clock = SystemClock()
        self.slack = TimedGateway(
            build_client(info["token"], info["api_url"]),
            budget=SlackBudget(redis, self.store.keys) if budget else None,
        )
        self.slack.posted, self.slack.posts = {}, Counter()
        self.slack.expected, self.slack.all_posted = 0, asyncio.Event()
        self.scheduler = Scheduler(JobQueue(self.store), self.clock)
        self.followups = Followups(
            self.store, self.slack, self.clock, self.scheduler, load_checklists(),
            ReminderPolicy.parse(), broadcast_channel=None,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        # The bot's one pooled session (`Fireline.start`), not a session per call.
        self.slack.client.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS)
        )
        try:
            yield
        finally:
            await self.slack.client.session.close()

    async def declare(self, channels: list[str], severity: Severity, created: datetime) -> None:
        limit = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(channel: str) -> None:
            template = new_incident(
                title=f"Scale {channel}", severity=severity, reporter="U0BENCH", now=created
            )
            async with limit:
                incident, _ = await self.store.create_incident(
                    f"scale-{channel}", template, declared_entry(template)
                )
                incident, _ = await self.store.mutate(incident.id, _provisioned_in(channel))
                await self.followups.declared(incident)

        await asyncio.gather(*(one(c) for c in channels))


async def run(
    incidents: int, due_n: int, groups: int, idle_s: float, lead_s: float, budget: bool
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    double = ctx.Process(target=_run_double, args=(incidents, there), daemon=True)
    double.start()
    there.close()
    info = here.recv()
    loop = asyncio.get_running_loop()
    result: dict[str, Any] = {"incidents": incidents, "due": due_n, "groups": groups}

    async def ask(what: str) -> Any:
        here.send(what)
        return await loop.run_in_executor(None, here.recv)

    with private_redis() as socket:
        redis = Redis(unix_socket_path=socket)
        bot = Bot(redis, info, budget)
        try:
            async with bot.session():
                result |= await _measure(bot, info, ask, incidents, due_n, groups, idle_s, lead_s)
            in_slack: dict[str, int] = await ask("count")
        finally:
            with contextlib.suppress(OSError):
                here.send("stop")
            double.join(5)
            await redis.aclose()
    due_channels = info["channels"][incidents - due_n :]
    wrong = {c: in_slack[c] for c in info["channels"] if in_slack[c] != (c in due_channels)}
    check(not wrong, f"channels without exactly one message (due) or none (others): {wrong}")
    check(in_slack[info["alerts"]] == groups, f"{in_slack[info['alerts']]} alert parents shown")
    return result


async def _measure(
    bot: Bot,
    info: dict[str, Any],
    ask: Callable[[str], Awaitable[Any]],
    incidents: int,
    due_n: int,
    groups: int,
    idle_s: float,
    lead_s: float,
) -> dict[str, Any]:
    redis, slack, scheduler = bot.redis, bot.slack, bot.scheduler
    channels: list[str] = info["channels"]
    background, due_channels = channels[: incidents - due_n], channels[incidents - due_n :]
    out: dict[str, Any] = {}

    # 1. The open incidents, their jobs scheduled; memory per incident.
    before = await used_memory(redis)
    started = time.monotonic()
    now = datetime.now(UTC)
    for n, severity in enumerate(BACKGROUND):
        await bot.declare(background[n :: len(BACKGROUND)], severity, now)
    out["setup_s"] = time.monotonic() - started
    out["jobs_background"] = await redis.zcard(bot.store.keys.jobs_due)
    out["bytes_per_incident"] = (await used_memory(redis) - before) / len(background)
    out["by_kind"] = await memory_by_kind(redis, "INC-2")  # a P2, like the due ones

    # 2. 1,000 checklists due at the same instant T, among everything else scheduled.
    t = time.time() + lead_s
    await bot.declare(
        due_channels, Severity.P2, datetime.fromtimestamp(t, UTC) - timedelta(minutes=5)
    )
    out["headroom_s"] = t - time.time()
    check(out["headroom_s"] > 0, f"set-up outlasted --lead {lead_s:g} s: raise it")
    out["jobs_scheduled"] = await redis.zcard(bot.store.keys.jobs_due)
    slack.expected = due_n
    memory_before_posting = await used_memory(redis)
    slack_cpu, server_cpu = await ask("cpu"), await redis_cpu(redis)
    cpu = time.process_time()
    runner = asyncio.ensure_future(scheduler.run_forever())
    with contextlib.suppress(TimeoutError):  # reported as fewer posted than due
        await asyncio.wait_for(slack.all_posted.wait(), lead_s + 60)
    out["posting_cpu_s"] = time.process_time() - cpu
    out["slack_cpu_s"] = await ask("cpu") - slack_cpu
    out["redis_cpu_s"] = await redis_cpu(redis) - server_cpu
    out["posting_wakeups"] = scheduler.wakeups
    late = [slack.posted[c] - t for c in slack.posted]
    check(len(late) == due_n, f"{len(late)} checklists posted of {due_n} due")
    check(set(slack.posts) == set(due_channels), "a checklist posted where none was due")
    twice = {c: n for c, n in slack.posts.items() if n > 1}
    check(not twice, f"checklists posted more than once: {twice}")
    out |= {
        "late_p50": statistics.median(late),
        "late_p99": _pct(late, 0.99),
        "late_max": max(late),
        "late_min": min(late),
    }

    # 3. Idle with every later job scheduled.
    await scheduler.settled()
    out["bytes_per_posted"] = (await used_memory(redis) - memory_before_posting) / due_n
    wakeups, cpu = scheduler.wakeups, time.process_time()
    await asyncio.sleep(idle_s)
    out["idle_cpu_s"] = time.process_time() - cpu
    out["idle_wakeups"] = scheduler.wakeups - wakeups
    out["idle_s"] = idle_s
    scheduler.stop()
    await asyncio.wait_for(runner, 10)
    left = await redis.zcard(bot.store.keys.jobs_due)
    check(
        left == out["jobs_scheduled"] - due_n,
        f"{left} jobs left, expected {out['jobs_scheduled'] - due_n}",
    )

    # 4. Alert groups, shown and drained; memory per group.
    if groups:
        out["bytes_per_group"] = await _alert_groups(bot, info["alerts"], groups)
    return out


async def _alert_groups(bot: Bot, channel: str, groups: int) -> float:
    redis, keys = bot.redis, bot.store.keys
    alerts = AlertStore(redis, keys)
    # Without the budget: one channel's posts at Slack's pace would take half an hour, and
    # only the memory of what stays behind is measured here.
    outbox = Outbox(redis, keys, SlackGateway(bot.slack.client), instance="bench")
    writer = AlertWriter(redis, keys, alerts, outbox, threshold=10 * groups)
    threads = AlertThreads(
        alerts, bot.store, bot.slack, bot.clock,
        fallback_channel=channel, consumer="bench", writer=writer,
    )  # fmt: skip
    before = await used_memory(redis)
    for n in range(groups):
        await threads.handle(parse(storm.notification(n, 2)))
    drainer = asyncio.ensure_future(outbox.run_forever())
    deadline = time.monotonic() + 60 + groups / 10
    while await outbox.waiting():
        check(time.monotonic() < deadline, "the outbox did not drain")
        await asyncio.sleep(0.1)
    outbox.stop()
    await asyncio.wait_for(drainer, 10)
    return (await used_memory(redis) - before) / groups


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=1000, help="checklists due at one instant")
    parser.add_argument("--groups", type=int, default=1000, help="alert groups")
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds to set up the due ones")
    parser.add_argument("--no-budget", action="store_true", help="no shared Slack budget")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.incidents, args.due, args.groups, args.idle, args.lead = 120, 30, 10, 1.0, 3.0
    check(0 < args.due <= args.incidents, "--due must be between 1 and --incidents")
    load = os.getloadavg()[0]
    r = asyncio.run(
        run(args.incidents, args.due, args.groups, args.idle, args.lead, not args.no_budget)
    )
    background = r["incidents"] - r["due"]
    print(
        f"{background} open incidents set up in {r['setup_s']:.1f} s, "
        f"{r['jobs_background']} jobs scheduled: Redis {r['bytes_per_incident'] / 1024:.2f} KiB "
        "per incident (used_memory delta)"
    )
    print("  one P2 incident's keys (MEMORY USAGE, bytes):")
    for kind, size in r["by_kind"].items():
        print(f"    {size:6d}  {kind}")
    print(
        f"{r['due']} checklists due at one instant among {r['jobs_scheduled']} jobs "
        f"(scheduler started {r['headroom_s']:.1f} s before): lateness p50 "
        f"{1000 * r['late_p50']:.0f} ms, p99 {1000 * r['late_p99']:.0f} ms, max "
        f"{1000 * r['late_max']:.0f} ms, min {1000 * r['late_min']:.0f} ms; CPU "
        f"{1000 * r['posting_cpu_s'] / r['due']:.2f} ms per checklist (Slack double: "
        f"{1000 * r['slack_cpu_s'] / r['due']:.2f} ms per post, redis-server: "
        f"{1000 * r['redis_cpu_s'] / r['due']:.2f} ms), "
        f"{r['posting_wakeups']} wake-ups; +{r['bytes_per_posted'] / 1024:.2f} KiB per posted "
        f"checklist; Slack budget {'off' if args.no_budget else 'on'}"
    )
    print(
        f"idle {r['idle_s']:.0f} s: CPU {1000 * r['idle_cpu_s']:.1f} ms "
        f"({100 * r['idle_cpu_s'] / r['idle_s']:.2f} %), {r['idle_wakeups']} scheduler wake-ups"
    )
    if r["groups"]:
        print(
            f"{r['groups']} alert groups (2 alerts each) shown and drained: Redis "
            f"{r['bytes_per_group'] / 1024:.2f} KiB per group"
        )
    print(f"load average (1 min, {os.cpu_count()} CPUs): {load:.2f} → {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    cli()
