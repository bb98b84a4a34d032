"""No infrastructure address reaches a Slack user (issue 13, finding 10): when Redis fails, the
person is told that Redis did not answer, not where it lives; the log keeps the detail.

The bot talks to the real Redis through a loopback proxy the test can cut: it forwards bytes
both ways until it sees the command that takes a person's rate-limit token (after the ack),
then drops every connection and stops listening, so every later call is refused as it would
be by a Redis that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.store.server import RedisHandle
from bot.store.store import redis_unavailable
from tests.conftest import _drop_prefix
from tests.harness import Harness, eventually


class CuttingProxy:
    """Forwards to Redis on 127.0.0.1:6379 until a client sends `cut_on`, then goes away."""

    def __init__(self, cut_on: bytes) -> None:
        self.cut_on = cut_on
        self.port = 0
        self.cut = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers |= {writer, upstream}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, watch: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if watch and self.cut_on in data:
                        self.close()
                        return
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pump(reader, upstream, True), pump(upstream_reader, writer, False))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self.cut.set()


@pytest.fixture
async def proxy(prefix: str) -> AsyncIterator[CuttingProxy]:
    proxy = CuttingProxy(cut_on=f"{prefix}rate:".encode())
    await proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture
async def redis_handle(
    redis_server: Redis, prefix: str, proxy: CuttingProxy
) -> AsyncIterator[RedisHandle]:
    """The bot's Redis (overrides the shared fixture for this module): through the proxy."""
    client = Redis(host="127.0.0.1", port=proxy.port)
    yield RedisHandle(client=client, description="test Redis behind a proxy")
    await client.aclose()
    await _drop_prefix(redis_server, prefix)


@pytest.mark.slow
async def test_a_redis_failure_is_told_without_its_address(
    world: Harness, proxy: CuttingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    caplog.set_level(logging.WARNING)
    await w.slack.slash_command(w.rita, w.room, "pods task-service")
    # redis-py retries a refused connection with backoff (the run, then its audit) first.
    told = await eventually(
        lambda: next((t for t in w.ephemeral_texts(w.rita) if "Redis did not answer" in t), None),
        30.0,
        f"rita told that Redis did not answer; shown: {w.ephemeral_texts(w.rita)}",
    )
    assert proxy.cut.is_set()
    assert str(proxy.port) not in told and "127.0.0.1" not in told, told
    assert f"127.0.0.1:{proxy.port}" in caplog.text, "the log keeps where Redis was"


async def test_the_mapping_keeps_the_address_out_of_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exc = RedisConnectionError("Error 111 connecting to 10.1.2.3:6380. Connection refused.")
    said = str(redis_unavailable(exc))
    assert "10.1.2.3" not in said and "6380" not in said
    assert said == "Redis did not answer (ConnectionError)"
    assert "10.1.2.3:6380" in caplog.text
