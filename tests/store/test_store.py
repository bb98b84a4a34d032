"""The store against real Redis: the server (REDIS_URL) and the embedded one (unset)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bot import incident as model
from bot.errors import Unavailable
from bot.incident import Severity, declared_entry
from bot.store.store import Store, new_incident

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def template(title: str = "API down") -> model.Incident:
    return new_incident(title=title, severity=Severity.P1, reporter="U1", now=T0)


async def create(store: Store, key: str, title: str = "API down") -> model.Incident:
    tpl = template(title)
    incident, _ = await store.create_incident(key, tpl, declared_entry(tpl))
    return incident


async def test_ids_are_short_and_sequential(store: Store) -> None:
    ids = [(await create(store, f"trigger-{n}")).id for n in range(3)]
    assert ids == ["INC-1", "INC-2", "INC-3"]
    assert [i.id for i in await store.list_incidents(open_only=True)] == ids


async def test_same_request_creates_one_incident_even_when_racing(store: Store) -> None:
    tpl = template()
    results = await asyncio.gather(
        *[store.create_incident("same-trigger", tpl, declared_entry(tpl)) for _ in range(20)]
    )
    assert {inc.id for inc, _ in results} == {"INC-1"}
    assert sum(created for _, created in results) == 1
    assert len(await store.timeline("INC-1")) == 1
    assert await store.list_ids(open_only=False) == ["INC-1"]


async def test_concurrent_changes_are_all_applied(store: Store) -> None:
    inc = await create(store, "t")

    async def note(n: int) -> None:
        await store.mutate(inc.id, lambda i: model.add_followup(i, "U1", f"item {n}", T0))

    await asyncio.gather(*[note(n) for n in range(25)])
    stored = await store.get(inc.id)
    assert sorted(stored.followups) == sorted(f"item {n}" for n in range(25))
    assert stored.version == 25
    assert len(await store.timeline(inc.id)) == 26  # declared + 25


async def test_noop_change_writes_nothing(store: Store) -> None:
    inc = await create(store, "t")
    await store.mutate(inc.id, lambda i: model.acknowledge(i, "U2", T0))
    before = await store.get(inc.id)
    after, entries = await store.mutate(inc.id, lambda i: model.acknowledge(i, "U3", T0))
    assert entries == [] and after.version == before.version


async def test_resolve_leaves_open_list_and_channel_lookup_works(store: Store) -> None:
    inc = await create(store, "t")
    await store.mutate(inc.id, lambda i: (i.model_copy(update={"channel_id": "C1"}), []))
    assert (await store.find_by_channel("C1")).id == inc.id  # type: ignore[union-attr]
    await store.mutate(inc.id, lambda i: model.resolve(i, "U1", None, T0))
    assert await store.list_ids(open_only=True) == []
    assert await store.list_ids(open_only=False) == [inc.id]


async def test_append_once_and_claims(store: Store) -> None:
    inc = await create(store, "t")
    entry = model.pinned_entry("U2", "U3", "db failover started", T0)
    results = await asyncio.gather(
        *[store.append_once(inc.id, "pin:C1:1.0", entry) for _ in range(5)]
    )
    assert sorted(results) == [False, False, False, False, True]
    assert await store.claim("x", "k") and not await store.claim("x", "k")


async def test_lock_excludes_a_second_holder(store: Store) -> None:
    async with store.lock("a") as first:
        assert first
        async with store.lock("a", wait_s=0.05) as second:
            assert not second
    async with store.lock("a", wait_s=0.05) as third:
        assert third


@pytest.mark.process
@pytest.mark.slow
async def test_embedded_redis_keeps_incidents_across_a_restart(tmp_path, prefix) -> None:
    """REDIS_URL unset: the append-only file under the data dir survives a bot restart."""
    from bot.store.server import start_embedded

    handle = start_embedded(tmp_path / "data")
    first = Store(handle.client, prefix=prefix)
    incident = await create(first, "t", "Payments slow")
    await first.mutate(incident.id, lambda i: model.add_note(i, "U1", "still slow", T0))
    await handle.close()

    handle = start_embedded(tmp_path / "data")
    again = Store(handle.client, prefix=prefix)
    assert (await again.get(incident.id)).title == "Payments slow"
    assert [e.text for e in await again.timeline(incident.id)][-1] == "📝 <@U1>: still slow"
    assert (await create(again, "t2")).id == "INC-2"
    await handle.close()


async def test_a_lock_whose_release_failed_is_released_once_redis_answers_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failover while the holder gives its lock back: it tries again while Redis comes
    back, so the next holder (a job's retry) is not kept out for the lock's whole TTL."""
    release, failures = store._release, 2

    async def flaky(**kwargs: Any) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise RedisConnectionError("Connect call failed")
        return await release(**kwargs)

    monkeypatch.setattr(store, "_release", flaky)
    async with store.lock("work", ttl_ms=60_000) as held:
        assert held
    assert failures == 0
    async with store.lock("work", wait_s=0) as next_holder:
        assert next_holder, "left behind for its 60 s TTL"


async def test_a_lock_is_renewed_while_held_and_redis_failing_is_unavailable(
    store: Store,
) -> None:
    """Work longer than the lock's TTL keeps it (renewed by its holder), so a second worker
    cannot start the same work; a Redis that does not answer is `Unavailable`, not redis-py's
    error escaping to the caller."""
    key = store.keys.lock("work")
    async with store.lock("work", ttl_ms=1500) as held:
        assert held
        renewals, last = 0, await store.redis.pttl(key)
        while renewals < 3:  # three renewals: held well past one TTL
            await asyncio.sleep(0.05)
            ttl = await store.redis.pttl(key)
            renewals += ttl > last
            last = ttl
        async with store.lock("work", wait_s=0) as second:
            assert not second, "still held by the first worker"
    async with store.lock("work", wait_s=0) as after:
        assert after, "released by its holder"

    down = Redis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    broken = Store(down, prefix=store.keys.prefix)
    with pytest.raises(Unavailable):
        async with broken.lock("work", wait_s=0):
            pass
    await down.aclose()
