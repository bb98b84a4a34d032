"""Acknowledgement latency of `/incident declare` at 50 concurrent signed requests.

Beside it, in the same run and process, a bare Bolt app whose `/incident` handler only acks:
the floor that Bolt, aiohttp and signature verification set. Target: Fireline's p99 within
1.2× the bare app's.

    python -m bench.declare_latency [--rounds 10] [--concurrency 50] [--redis-url URL] [--smoke]

The Slack Web API double runs in its own process (it is Slack, not us), and so does the load
generator; the bot and the bare app share the measured process, loaded one at a time, rounds
alternating. Between Fireline rounds the bot finishes its post-ack work (channels, cards,
announcements), so each round starts idle but its own post-ack work competes with its acks,
as it would in production. Checked in every run: every request answered 200, and exactly one
incident recorded per declare. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
import uuid
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bench._support import add_smoke_flag, check

if TYPE_CHECKING:  # imported where used: the double's and the load's processes do without
    from bot.app import Fireline

SECRET = "bench-signing-secret"


# --- the Slack double, in its own process ----------------------------------------------------


def _run_double(ready: Connection, stop: Connection) -> None:
    from bot.sandbox.doubles.slack import SlackDouble

    async def main() -> None:
        async with SlackDouble(signing_secret=SECRET) as double:
            users = [double.add_user(f"user{n}") for n in range(50)]
            room = double.add_channel("war-room", members=users)
            broadcast = double.add_channel("incidents", members=users)
            ready.send(
                {
                    "api_url": double.api_url,
                    "token": double.bot_token,
                    "users": users,
                    "room": room,
                    "broadcast": broadcast,
                    "team": double.team_id,
                }
            )
            await asyncio.get_running_loop().run_in_executor(None, stop.recv)

    asyncio.run(main())


# --- the load generator, in its own process ----------------------------------------------------


def _form(info: dict[str, Any], n: int) -> str:
    user = info["users"][n % len(info["users"])]
    return urlencode(
        {
            "token": "x",
            "team_id": info["team"],
            "team_domain": "bench",
            "channel_id": info["room"],
            "channel_name": "war-room",
            "user_id": user,
            "user_name": f"user{n}",
            "command": "/incident",
            "text": f"declare P2 Bench incident {uuid.uuid4().hex[:8]}",
            "api_app_id": "A1",
            "response_url": info["response_url"],
            "trigger_id": f"{n}.{uuid.uuid4().hex}",
        }
    )


async def _round(url: str, info: dict[str, Any], concurrency: int) -> list[float]:
    verifier = SignatureVerifier(SECRET)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(n: int) -> float:
            body = _form(info, n)
            ts = str(int(time.time()))
            headers = {
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or "",
                "Content-Type": "application/x-www-form-urlencoded",
            }
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                check(response.status == 200, f"declare answered {response.status}")
            return time.perf_counter() - start

        return list(await asyncio.gather(*[one(n) for n in range(concurrency)]))


def _load(conn: Connection) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        url, info, concurrency = job
        conn.send(asyncio.run(_round(url, info, concurrency)))


# --- the measured process -------------------------------------------------------------------------


async def _bare_app(info: dict[str, Any]) -> tuple[web.AppRunner, str]:
    client = AsyncWebClient(token=info["token"], base_url=info["api_url"])
    bolt = AsyncApp(client=client, signing_secret=SECRET)

    @bolt.command("/incident")
    async def noop(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def response_sink(request: web.Request) -> web.Response:
        await request.read()  # where the bot's follow-up ephemerals go (Slack's response_url)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_post("/response", response_sink)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    info["response_url"] = f"http://127.0.0.1:{port}/response"
    return runner, f"http://127.0.0.1:{port}/slack/events"


async def _fireline(info: dict[str, Any], redis_url: str) -> tuple[Fireline, str]:
    from bot.app import create_app
    from bot.settings import Settings

    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        _env_file=None,
        slack_bot_token=info["token"],
        slack_signing_secret=SECRET,
        slack_api_url=info["api_url"],
        http_host="127.0.0.1",
        http_port=0,
        broadcast_channel=info["broadcast"],
        redis_url=redis_url,
        redis_prefix=prefix,
        # The double here does not rate-limit: the bot's shared budget is still consulted on
        # every call (its cost is measured), with limits no lower than the double's.
        slack_rate_scale=1000.0,
    )
    app = create_app(settings)
    await app.start()
    return app, prefix


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main(rounds: int, concurrency: int, redis_url: str) -> dict[str, dict[str, float]]:
    ctx = mp.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop_recv, stop_send = ctx.Pipe(duplex=False)
    double = ctx.Process(target=_run_double, args=(ready_send, stop_recv), daemon=True)
    double.start()
    ready_send.close()  # so that a child that died is an EOFError here, not a hang
    stop_recv.close()
    info = ready_recv.recv()
    load_here, load_there = ctx.Pipe()
    loader = ctx.Process(target=_load, args=(load_there,), daemon=True)
    loader.start()
    load_there.close()

    bare_runner, bare_url = await _bare_app(info)
    app, prefix = await _fireline(info, redis_url)
    fireline_url = f"{app.url}/slack/events"
    loop = asyncio.get_running_loop()
    samples: dict[str, list[float]] = {"bare Bolt app": [], "Fireline declare": []}
    try:
        for round_no in range(rounds + 1):  # round 0 warms up both
            for name, url in (("bare Bolt app", bare_url), ("Fireline declare", fireline_url)):
                load_here.send((url, info, concurrency))
                latencies = await loop.run_in_executor(None, load_here.recv)
                if name == "Fireline declare":
                    await app.drain(120.0)
                if round_no:
                    samples[name].extend(latencies)
        created = len(await app.services.store.list_ids(open_only=False))
    finally:
        load_here.send(None)
        await app.stop()
        await bare_runner.cleanup()
        stop_send.send(True)
        double.join(5)
        loader.join(5)
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()

    expected = (rounds + 1) * concurrency
    check(created == expected, f"{created} incidents for {expected} declares")
    for name, s in samples.items():
        check(len(s) == rounds * concurrency, f"{name}: {len(s)} answers measured")
    result = {
        name: {
            "p50_ms": _pct(s, 0.50),
            "p99_ms": _pct(s, 0.99),
            "mean_ms": statistics.fmean(s) * 1000,
            "n": len(s),
        }
        for name, s in samples.items()
    }
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.concurrency = 1, 5
    result = asyncio.run(main(args.rounds, args.concurrency, args.redis_url))
    for name, r in result.items():
        print(
            f"{name:18} p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   "
            f"mean {r['mean_ms']:7.1f} ms   n={r['n']:.0f}"
        )
    ratio = result["Fireline declare"]["p99_ms"] / result["bare Bolt app"]["p99_ms"]
    print(f"p99 ratio Fireline / bare: {ratio:.2f} (target ≤ 1.20)")


if __name__ == "__main__":
    cli()
