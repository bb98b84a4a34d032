"""Whether a failed Redis call may have run: a person is told "did not happen" only when the
command never reached Redis, and "cannot tell" when its answer was lost after sending it
(real redis-py against a closed port and against a server that takes commands and never
answers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.errors import Unavailable
from bot.store.calls import redis_unavailable
from handlers.common import TooSlow, explain
from tests.ports import free_port

NO_RETRY = Retry(NoBackoff(), 0)  # as Fireline's clients: one attempt, the failure seen


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP server on loopback that answers redis-py's connection handshake (`CLIENT
    SETINFO`) and then takes commands without ever answering them."""
    received: list[bytes] = []

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(4096):
            received.append(chunk)
            handshake = chunk.count(b"SETINFO")
            if handshake:
                writer.write(b"+OK\r\n" * handshake)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(take, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        server.close()
        await server.wait_closed()


async def failure(redis: Redis) -> Unavailable:
    try:
        await redis.set("fireline:probe", "1")
    except RedisError as exc:
        return redis_unavailable(exc)
    finally:
        await redis.aclose()
    raise AssertionError("the call succeeded")


async def test_a_command_that_never_reached_redis_was_not_sent() -> None:
    lost = await failure(Redis(host="127.0.0.1", port=free_port(), retry=NO_RETRY))
    assert not lost.sent
    assert "did not happen" in explain(lost, "`/incident sev P1`")


async def test_a_command_sent_whose_answer_never_came_may_have_run(
    silent_server: tuple[int, list[bytes]],
) -> None:
    port, received = silent_server
    redis = Redis(host="127.0.0.1", port=port, socket_timeout=0.2, retry=NO_RETRY, protocol=2)
    lost = await failure(redis)
    assert b"fireline:probe" in b"".join(received)  # it got there
    assert lost.sent
    told = explain(lost, "`/incident sev P1`")
    assert "did not happen" not in told
    assert "cannot tell whether it took effect" in told and "`/incident status`" in told


def test_work_stopped_for_taking_too_long_is_not_called_undone() -> None:
    told = explain(TooSlow("Redis did not answer in time"), "`/incident sev P1`")
    assert "did not happen" not in told and "cannot tell" in told


def test_an_unavailable_remote_that_was_never_reached_did_not_happen() -> None:
    told = explain(Unavailable("Slack could not be reached"), "`/incident declare`")
    assert told.startswith("⚠️ `/incident declare` did not happen")
