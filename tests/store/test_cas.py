"""`compare_and_set`: the one WATCH/MULTI loop, and the two stores that use it.

A concurrent writer is made deterministic by writing from a second (blocking) connection
inside `decide`, that is between the WATCH and the EXEC of the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from redis.asyncio import Redis

from bot import incident as model
from bot.errors import ConcurrentModification, Unavailable
from bot.incident import Severity, declared_entry
from bot.store import cas
from bot.store.cas import Decision, compare_and_set
from bot.store.store import Store, new_incident
from tests.conftest import REDIS_URL

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def other_writer() -> Iterator[redis.Redis]:
    """A second connection that writes while a transaction is between WATCH and EXEC."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


async def test_a_write_between_read_and_write_is_not_lost(
    redis_server: Redis, other_writer: redis.Redis, prefix: str
) -> None:
    key = f"{prefix}cas"
    await redis_server.set(key, "a")
    seen: list[str] = []

    def decide(raw: bytes | str | None) -> Decision[str]:
        current = raw.decode() if isinstance(raw, bytes) else str(raw)
        seen.append(current)
        if len(seen) == 1:
            other_writer.set(key, current + "-other")  # lands between WATCH and EXEC
        new = current + "-mine"
        return Decision(new, lambda pipe: pipe.set(key, new))

    assert await compare_and_set(redis_server, key, decide, gave_up="no") == "a-other-mine"
    assert seen == ["a", "a-other"]
    assert await redis_server.get(key) == b"a-other-mine"


async def test_nothing_to_write_writes_nothing(redis_server: Redis, prefix: str) -> None:
    key = f"{prefix}cas"
    await redis_server.set(key, "a")
    result = await compare_and_set(
        redis_server, key, lambda raw: Decision(("unchanged", raw)), gave_up="no"
    )
    assert result == ("unchanged", b"a")
    assert await redis_server.get(key) == b"a"


async def test_gives_up_when_other_writers_keep_winning(
    redis_server: Redis,
    other_writer: redis.Redis,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cas, "BACKOFF_STEP_S", 0.0)
    key = f"{prefix}cas"
    attempts = 0

    def decide(raw: bytes | str | None) -> Decision[None]:
        nonlocal attempts
        attempts += 1
        other_writer.incr(key)
        return Decision(None, lambda pipe: pipe.set(key, "mine"))

    with pytest.raises(ConcurrentModification, match="kept changing"):
        await compare_and_set(redis_server, key, decide, gave_up="it kept changing")
    assert attempts == cas.MAX_CAS_ATTEMPTS
    assert await redis_server.get(key) == str(cas.MAX_CAS_ATTEMPTS).encode()


async def test_what_decide_raises_stops_the_loop_and_writes_nothing(
    redis_server: Redis, prefix: str
) -> None:
    key = f"{prefix}cas"

    def decide(raw: bytes | str | None) -> Decision[None]:
        raise KeyError(key)

    with pytest.raises(KeyError):
        await compare_and_set(redis_server, key, decide, gave_up="no")
    assert await redis_server.exists(key) == 0


async def test_any_other_redis_failure_is_unavailable(redis_server: Redis, prefix: str) -> None:
    key = f"{prefix}cas"
    await redis_server.rpush(key, "not a string")  # GET answers WRONGTYPE
    with pytest.raises(Unavailable) as raised:
        await compare_and_set(redis_server, key, lambda raw: Decision(raw), gave_up="no")
    assert isinstance(raised.value.__cause__, redis.exceptions.ResponseError)


# --- the incident store uses it (the remediation store too: tests/remediation/) ---


async def test_incident_changes_go_through_it(
    redis_server: Redis, other_writer: redis.Redis, prefix: str
) -> None:
    store = Store(redis_server, prefix=prefix)
    template = new_incident(title="API down", severity=Severity.P1, reporter="U1", now=T0)
    incident, _ = await store.create_incident("t", template, declared_entry(template))
    key = store.keys.incident(incident.id)
    raced = False

    def note(current: model.Incident) -> model.Change:
        nonlocal raced
        if not raced:  # another replica's change lands between our read and our write
            raced = True
            theirs, _ = model.add_followup(current, "U2", "theirs", T0)
            other_writer.set(key, theirs.model_copy(update={"version": 1}).model_dump_json())
        return model.add_followup(current, "U1", "mine", T0)

    stored, _ = await store.mutate(incident.id, note)
    assert stored.followups == ["theirs", "mine"] and stored.version == 2

    await redis_server.delete(key)
    await redis_server.rpush(key, "not an incident")
    with pytest.raises(Unavailable) as raised:
        await store.mutate(incident.id, note)
    assert isinstance(raised.value.__cause__, redis.exceptions.ResponseError)
