"""An alert storm into one channel: 1,000 alerts in 100 groups delivered within 10 s.

    python -m bench.alert_storm_bench [--groups 100] [--alerts 10] [--seconds 10] [--scale 1]
                                      [--smoke]

Alertmanager's notifications are POSTed to the bot's webhook as Alertmanager sends them (each
carries the group's alerts so far): a first round with two alerts per group, then one more
alert per group per round, the rounds spread over `--seconds`. The Slack Web API double runs
in its own process with Slack's rate limits (`RateLimits.real()`, or `scaled(--scale)` with the
bot told the same scale): chat.postMessage about one a second per channel, the method tiers,
429 + Retry-After. Measured:

- time until every group is visible in Slack (its parent, or its line in the storm digest);
- time until every alert is in its group's thread (the outbox drained);
- Slack calls per alert; 429s met, and how many reached a user (raised to a caller as
  `Throttled` or parked); alerts lost (must be 0: every alert's pod is named in its thread).

Checked in every run: every group visible and given one parent, every alert named exactly once
in its group's thread, no notification refused for good. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
import uuid
from collections import Counter
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import aiohttp

from bench._support import Broken, add_smoke_flag, check
from tests.alerts import storm

if TYPE_CHECKING:  # imported where used: each process loads only its own side
    from bot.app import Fireline
    from bot.sandbox.doubles.slack import SlackDouble

TOKEN = "bench-webhook-token-0123456789"


# --- the Slack double, in its own process ----------------------------------------------------


def _run_double(conn: Connection, scale: float) -> None:
    from bot.sandbox.doubles.slack import RateLimits, SlackDouble

    async def main() -> None:
        limits = RateLimits.real() if scale == 1 else RateLimits.scaled(scale)
        async with SlackDouble(rate_limits=limits) as double:
            alerts = double.add_channel("alerts")
            broadcast = double.add_channel("incidents")
            conn.send(
                {
                    "api_url": double.api_url,
                    "token": double.bot_token,
                    "alerts": alerts,
                    "broadcast": broadcast,
                }
            )
            loop = asyncio.get_running_loop()
            while True:
                request = await loop.run_in_executor(None, conn.recv)
                if request is None:
                    return
                conn.send(_snapshot(double, alerts))

    asyncio.run(main())


def _snapshot(double: SlackDouble, channel: str) -> dict[str, Any]:
    """What the channel shows (top-level texts and blocks, thread replies) and the call counts."""
    top = []
    for message in double.messages(channel):
        replies = [r.get("text", "") for r in double.thread(channel, message["ts"])[1:]]
        shown = json.dumps(message.get("blocks") or [], ensure_ascii=False) + message["text"]
        top.append({"text": message["text"], "shown": shown, "replies": replies})
    calls = double.calls()
    return {
        "messages": top,
        "calls": Counter(c.method for c in calls),
        "statuses": Counter(c.status for c in calls),
    }


# --- the measured process -----------------------------------------------------------------------


async def _bot(info: dict[str, Any], redis_url: str, scale: float) -> Fireline:
    from bot.app import create_app
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,
        slack_bot_token=info["token"],
        slack_signing_secret="bench-signing-secret",
        slack_api_url=info["api_url"],
        http_host="127.0.0.1",
        http_port=0,
        broadcast_channel=info["broadcast"],
        alerts_channel=info["alerts"],
        webhook_token=TOKEN,
        redis_url=redis_url,
        redis_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
        slack_rate_scale=scale,
        instance_name="bench",
    )
    app = create_app(settings)
    await app.start()
    return app


def _visible(snapshot: dict[str, Any], groups: int) -> int:
    shown = " ".join(m["shown"] for m in snapshot["messages"])
    return sum(1 for g in range(groups) if storm.title(g) in shown)


def _threads(snapshot: dict[str, Any]) -> dict[str, list[str]]:
    """Each group's parents (by the group's three digits): the replies of each."""
    threads: dict[str, list[str]] = {}
    for message in snapshot["messages"]:
        if "StormAlert" in message["text"] and not message["text"].startswith("Alert storm"):
            name = message["text"].split("StormAlert", 1)[1][:3]
            threads.setdefault(name, []).append(" ".join(message["replies"]))
    return threads


def _lost(snapshot: dict[str, Any], groups: int, alerts: int) -> int:
    threads = {name: " ".join(replies) for name, replies in _threads(snapshot).items()}
    return sum(
        1
        for g in range(groups)
        for n in range(alerts)
        if storm.pod(g, n) not in threads.get(f"{g:03d}", "")
    )


def _doubled(snapshot: dict[str, Any], groups: int, alerts: int) -> list[str]:
    """Groups with more than one parent, and alerts named more than once in their thread."""
    threads = _threads(snapshot)
    doubled = [storm.title(g) for g in range(groups) if len(threads.get(f"{g:03d}", [])) > 1]
    for g in range(groups):
        text = " ".join(threads.get(f"{g:03d}", []))
        doubled += [storm.pod(g, n) for n in range(alerts) if text.count(storm.pod(g, n)) > 1]
    return doubled


async def main(groups: int, alerts: int, seconds: float, scale: float, redis_url: str) -> None:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    double = ctx.Process(target=_run_double, args=(there, scale), daemon=True)
    double.start()
    info = here.recv()
    loop = asyncio.get_running_loop()

    async def snapshot() -> dict[str, Any]:
        here.send("snapshot")
        result: dict[str, Any] = await loop.run_in_executor(None, here.recv)
        return result

    app = await _bot(info, redis_url, scale)
    url = f"{app.url}/webhooks/alertmanager"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    rounds = alerts - 1  # the first round carries two alerts per group
    try:
        async with aiohttp.ClientSession() as session:
            refused: Counter[str] = Counter()

            async def post(body: bytes) -> None:
                # As Alertmanager does: a 5xx is retried (it would back off longer).
                for _ in range(10):
                    async with session.post(url, data=body, headers=headers) as response:
                        if response.status == 200:
                            return
                        check(response.status >= 500, f"notification refused: {response.status}")
                        refused[(await response.json()).get("error", str(response.status))] += 1
                    await asyncio.sleep(0.5)
                raise Broken(f"notification refused 10 times: {refused}")

            start = time.monotonic()
            visible_at: float | None = None
            for r in range(rounds):
                due = start + r * seconds / rounds
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await asyncio.gather(*[post(storm.notification(g, r + 2)) for g in range(groups)])
                if visible_at is None and _visible(await snapshot(), groups) == groups:
                    visible_at = time.monotonic() - start
            delivered = time.monotonic() - start
            while visible_at is None:
                if _visible(await snapshot(), groups) == groups:
                    visible_at = time.monotonic() - start
                check(time.monotonic() - start < 600, "groups still not visible after 10 min")
                await asyncio.sleep(0.1)
            store = app.services.alerts.alerts
            while await store.backlog() or await app.outbox.waiting():
                check(time.monotonic() - start < 1800, "the outbox did not drain in 30 min")
                await asyncio.sleep(0.25)
            drained = time.monotonic() - start
        final = await snapshot()
        parked = len(await app.outbox.parked(info["alerts"]))
        reached = app.services.slack.throttled + app.outbox.slack.throttled + parked
        total_alerts = groups * alerts
        calls = sum(final["calls"].values())
        print(
            f"alerts: {total_alerts} in {groups} groups, delivered in {delivered:.1f} s "
            f"(scale {scale:g})"
        )
        print(f"every group visible in Slack after {visible_at:.1f} s")
        print(f"every alert in its thread after {drained:.1f} s")
        print(
            f"Slack calls: {calls} ({calls / total_alerts:.2f} per alert): "
            + ", ".join(f"{m} {n}" for m, n in final["calls"].most_common())
        )
        print(
            f"429s met: {final['statuses'].get(429, 0)}; reached a user: {reached} "
            f"(parked: {parked})"
        )
        print(f"alerts lost: {_lost(final, groups, alerts)}")
        print(f"webhook 5xx answered (Alertmanager retries them): {dict(refused) or 0}")
        print(f"top-level messages in the channel: {len(final['messages'])}")
        digest = [m for m in final["messages"] if m["text"].startswith("Alert storm")]
        listed = sum(1 for g in range(groups) for d in digest if storm.title(g) in d["shown"])
        print(f"storm digests: {len(digest)}, listing {listed} groups")
        check(_visible(final, groups) == groups, "a group is no longer visible")
        check(_lost(final, groups, alerts) == 0, "alerts lost")
        doubled = _doubled(final, groups, alerts)
        check(not doubled, f"posted more than once: {doubled}")
    finally:
        here.send(None)
        await app.stop()
        double.join(5)
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        async for key in client.scan_iter(match=f"{app.settings.redis_prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--alerts", type=int, default=10, help="alerts per group (>= 2)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--scale", type=float, default=1.0, help="Slack's limits × this")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # past the storm threshold (20 groups), Slack's limits × 20
        args.groups, args.alerts, args.seconds, args.scale = 25, 3, 1.0, 20.0
    asyncio.run(main(args.groups, max(2, args.alerts), args.seconds, args.scale, args.redis_url))


if __name__ == "__main__":
    cli()
