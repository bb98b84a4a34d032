"""Declares during a Redis outage: a person is told "did not happen" only when it did not, and
every incident Redis recorded gets its channel from the periodic repair, with no restart.

A private `redis-server` on a free loopback port, reached through a TCP proxy the test
breaks mid-burst: answers on their way are dropped (the writes they answer were made),
connections are closed and new ones refused, then it mends. The bot's Redis client is the
production one (`bot.store.server.connect`, with redis-py's retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.settings import StorageSettings
from bot.store.server import RedisHandle, connect
from tests.harness import Builder, Harness, eventually
from tests.ports import free_port

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(240)]

FINAL = (" declared as ", "already declared", "is recorded, but", "did not happen", "could not")
"""What ends a declare for the person who typed it (after the "Declaring …" ack)."""


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server of the test's own, on a free loopback port, stopped after the test."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield port
    finally:
        server.kill()
        server.wait()


class FlakyProxy:
    """A TCP proxy to Redis that the test breaks (`cut`) and mends (`mend`)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.down = False
        self.armed: bytes | None = None
        self.cuts: list[asyncio.Task[None]] = []
        self.clients: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> FlakyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:  # refused: closed as soon as it is opened
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        self.clients.add(writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, answers: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    if answers and self.down:
                        continue  # Redis answered; the answer never arrives
                    dst.write(data)
                    await dst.drain()
                    if not answers and self.armed and self.armed in data:
                        self.armed = None
                        self.cuts.append(asyncio.ensure_future(self.cut()))
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self.clients.discard(writer)

    async def cut(self) -> None:
        """Answers on their way are dropped; a moment later (the writes sent meanwhile reach
        Redis) every client connection is closed, and new ones are refused."""
        self.down = True
        await asyncio.sleep(0.2)
        for writer in list(self.clients):
            writer.transport.abort()

    def cut_after(self, marker: bytes) -> None:
        """`cut` as soon as a command holding `marker` has been passed on to Redis."""
        self.armed = marker

    def mend(self) -> None:
        self.down = False

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self.clients):
            writer.transport.abort()


@pytest.fixture
async def proxy(private_redis: int) -> AsyncIterator[FlakyProxy]:
    flaky = await FlakyProxy(private_redis).start()
    yield flaky
    await flaky.close()


async def test_declares_through_a_redis_outage_are_told_the_truth_and_all_get_channels(
    build: Callable[..., Builder], proxy: FlakyProxy, private_redis: int, tmp_path: Path
) -> None:
    storage = StorageSettings(
        _env_file=None, redis_url=f"redis://127.0.0.1:{proxy.port}/0", data_dir=tmp_path
    )
    handle: RedisHandle = connect(storage)
    direct = Redis(port=private_redis, decode_responses=True)  # the test's own view
    people = [f"p{n}" for n in range(18)]
    b = build(redis=handle).people(*people).channel("room", "war-room")
    h = await b.channel("broadcast", "incidents").settings(repair_interval_s=0.5).start()
    triggers: dict[str, str] = {}
    try:

        async def declare(person: str) -> None:
            delivery = await h.slack.slash_command(
                h.ids[person], h.room, f"declare P2 Burst by {person}"
            )
            triggers[person] = str(delivery.payload["trigger_id"])

        await asyncio.gather(*(declare(p) for p in people[:6]))
        saved = 0
        while saved < 6:  # those six recorded (the bot answers them after Slack's work)
            saved = await direct.zcard(f"{b.prefix}incidents:all")
            await asyncio.sleep(0.02)
        # Mid-burst, Redis goes away right after a declare's write reached it: its answer is
        # lost, and so are those of the writes still on their way.
        proxy.cut_after(b"__FIRELINE_ID__")
        await asyncio.gather(*(declare(p) for p in people[6:12]))
        await eventually(lambda: proxy.down, 30, "the outage")
        await asyncio.sleep(8)  # the outage lasts longer than redis-py's own retries
        proxy.mend()
        await asyncio.gather(*(declare(p) for p in people[12:]))

        def last_word(person: str) -> str | None:
            shown = h.ephemeral_texts(h.ids[person])
            return next((t for t in shown if any(f in t for f in FINAL)), None)

        for person in people:
            await eventually(lambda p=person: last_word(p), 60, f"{person}'s answer")  # type: ignore[misc]

        recorded: dict[str, str] = {}
        for person in people:
            claim = await direct.get(f"{b.prefix}claim:declare:{triggers[person]}")
            told = last_word(person) or ""
            if claim and claim != "abandoned":
                recorded[person] = str(claim)
                assert "did not happen" not in told, f"{person}'s incident exists: {told}"
            else:
                assert "did not happen" in told or "could not" in told, f"{person}: {told}"
                assert " declared as " not in told
        lost = [p for p in people[6:12] if p in recorded]
        assert lost, "a write made as Redis went away is recorded"
        assert all(" declared as " in (last_word(p) or "") for p in lost), "and told so"
        assert len(recorded) >= 6 + 1 + 6, "before, during (its write made) and after"
        ids = await h.app.services.store.list_ids(open_only=False)
        assert sorted(ids) == sorted(recorded.values()), "one incident per recorded request"

        async def all_set_up() -> bool:
            incidents = await h.app.services.store.list_incidents(open_only=False)
            return all(i.provisioned and i.card_ts for i in incidents)

        deadline = asyncio.get_running_loop().time() + 60
        while not await all_set_up():  # the periodic repair, not a restart
            assert asyncio.get_running_loop().time() < deadline, "incidents left without a card"
            await asyncio.sleep(0.1)
        for incident in await h.app.services.store.list_incidents(open_only=False):
            assert incident.channel_id is not None
            cards = [m for m in h.slack.messages(incident.channel_id) if m.get("bot_id")]
            assert len(cards) == 1, f"{incident.id} has {len(cards)} cards"
    finally:
        await h.close()
        await handle.close()
        await direct.aclose()


async def test_a_follow_up_redis_fails_does_not_unsay_a_recorded_declare(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incident is recorded; scheduling its checklists then meets a Redis that fails (as
    redis-py raises it). The declarer is told it was declared, not that it did not happen: a
    follow-up's failure reaches the caller as Fireline's `Unavailable`, which it expects."""
    h = harness
    redis = h.app.services.store.redis
    real_get = redis.get

    async def failing_get(name: Any, *args: Any, **kwargs: Any) -> Any:
        if "update-snooze" in str(name):
            raise RedisConnectionError("Connection closed by server.")
        return await real_get(name, *args, **kwargs)

    monkeypatch.setattr(redis, "get", failing_get)
    await h.command(h.alice, "declare P2 Search slow")
    told = await h.told(h.alice, "INC-1 ")
    assert "declared as P2" in told and "did not happen" not in told, told
