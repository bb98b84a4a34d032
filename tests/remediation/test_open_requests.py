"""One open request per target, on the real Redis: a second request is told which one is open,
and a hold that names no open request (its record lost, or final with its release lost) never
turns a new request away with a request that does not exist or is over."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from bot.remediation.actions.base import Change, Plan
from bot.remediation.store import Record, RemediationStore, State
from bot.store.keys import Keys

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HOLD_S = 600


def request(remediation_id: str, name: str = "task-service") -> Record:
    plan = Plan(action="restart", kind="deployment", name=name, cluster="c",
                namespace="orion-prod", resource_version="1", uid="u", state="",
                changes=[Change(what="x", before="1", after="2")])  # fmt: skip
    return Record(
        id=remediation_id, action="restart", params={}, plan=plan, requester="U1", channel="C",
        requested_at=NOW, expires_at=NOW,
    )  # fmt: skip


async def test_a_second_request_for_the_same_target_is_told_which_is_open(
    redis_server: Redis, prefix: str
) -> None:
    records = RemediationStore(redis_server, Keys(prefix))
    assert await records.create(request("R-1"), HOLD_S) is None
    assert await records.create(request("R-2"), HOLD_S) == "R-1"
    assert await records.get("R-2") is None  # nothing of the refused one is kept
    assert [r.id for r in await records.active()] == ["R-1"]
    assert await records.create(request("R-3", name="orders-api"), HOLD_S) is None


async def test_a_hold_naming_a_request_that_was_never_recorded_is_taken_over(
    redis_server: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    records = RemediationStore(redis_server, keys)
    # What the hold and the record written apart left when Redis failed between them.
    target = keys.remediation_target(request("R-1").target_key)
    await redis_server.set(target, "R-1", ex=HOLD_S)
    assert await records.create(request("R-2"), HOLD_S) is None
    assert (await records.get("R-2")) is not None
    assert await redis_server.get(target) == b"R-2"


async def test_a_hold_left_by_a_finished_request_is_taken_over(
    redis_server: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    records = RemediationStore(redis_server, keys)
    assert await records.create(request("R-1"), HOLD_S) is None
    # Finished, but its hold's release was lost (Redis dropped after the final write).
    finished = (await records.get("R-1")).model_copy(update={"state": State.SUCCEEDED})  # type: ignore[union-attr]
    await redis_server.set(keys.remediation("R-1"), finished.model_dump_json())
    assert await records.create(request("R-2"), HOLD_S) is None
    # An unfinished one still holds it, whatever its state.
    for state in (State.APPROVED, State.EXECUTING, State.UNKNOWN):
        held = (await records.get("R-2")).model_copy(update={"state": state})  # type: ignore[union-attr]
        await redis_server.set(keys.remediation("R-2"), held.model_dump_json())
        assert await records.create(request("R-3"), HOLD_S) == "R-2", state
