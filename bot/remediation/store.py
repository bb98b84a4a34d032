"""Remediation requests in Redis: the record, its state machine, and the claims around it.

A request's whole life is one JSON record (`Keys.remediation`). Every change goes through
`RemediationStore.update()`: read, apply a pure transition, write only if nobody wrote in
between (WATCH/MULTI), retried otherwise. That compare-and-set is the exactly-once claim: of
two Approve clicks (a double click, a Slack retry, two replicas) both read `pending`, both
compute `approved`, one write lands; the other re-reads `approved` and its transition refuses.

Around the record: one open request per target (`remediation_target`, taken with the record
in one script, so a second request for the same deployment says which one is open), the set
of requests not yet final (`remediations_active`, reconciled at start-up), a cooldown per
target, and the last request applied to each target (`remediation_last`, so a button clicked
after that change can say what made it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.remediation.actions.base import Plan
from bot.store.calls import redis_unavailable, text
from bot.store.cas import Decision, compare_and_set
from bot.store.keys import Keys


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    """Applied or not, its outcome is not known (a write or a rollout timed out): re-check."""
    STALE = "stale"
    """Not applied: the target changed since the preview."""
    EXPIRED = "expired"
    DENIED = "denied"
    CANCELLED = "cancelled"


FINAL = frozenset(
    {State.SUCCEEDED, State.FAILED, State.STALE, State.EXPIRED, State.DENIED, State.CANCELLED}
)
"""States nothing leaves. UNKNOWN is not among them: a re-check may still settle it."""


LAST_APPLIED_S = 30 * 86400
"""How long the last request applied to a target is remembered for a stale button to name."""


def target_key(cluster: str, namespace: str, kind: str, name: str) -> str:
    """What the per-target keys (the open request, the cooldown, the last change) are named by."""
    return f"{cluster}/{namespace}/{kind}/{name}"


class Source(BaseModel):
    """The message whose button asked for a request, edited to show what became of it."""

    ts: str
    block_id: str
    """The block holding the button (a section's accessory, or one of an actions block's)."""
    value: str
    """The button's value, which tells it from other buttons of the same block."""


class Record(BaseModel):
    """One remediation request, from request to outcome."""

    id: str
    action: str
    params: dict[str, Any]
    plan: Plan
    requester: str
    channel: str
    thread_ts: str | None = None
    card_ts: str | None = None
    incident_id: str | None = None
    severity: str | None = None
    state: State = State.PENDING
    requested_at: datetime
    expires_at: datetime
    approver: str | None = None
    approved_at: datetime | None = None
    decided_by: str | None = None
    """Who denied or cancelled it."""
    reason: str | None = None
    """Why it was denied, or why it failed / went stale / is unknown."""
    applied: bool | None = None
    """Whether the change reached Kubernetes: None until known."""
    progress: str | None = None
    """The last thing verification saw (ready replicas, the replacement pod)."""
    after: str | None = None
    """The target's state after the change."""
    finished_at: datetime | None = None
    history: list[str] = Field(default_factory=list)
    source: Source | None = None
    """The message of the button that asked (in `channel`), when it can be edited."""

    @property
    def target_key(self) -> str:
        p = self.plan
        return target_key(p.cluster, p.namespace, p.kind, p.name)

    @property
    def final(self) -> bool:
        return self.state in FINAL


# One open request per target, taken with the request's record in one step: the hold (SET
# NX) and the record written apart left a hold naming no request when Redis failed between
# them, and every request for the target until it expired was told of one that did not exist.
# A hold whose request is gone or final (its release lost) is taken over the same way. The
# request's key is made from the held ID (ARGV[5]), so the script reads a key it was not
# given: fine on a single master or Sentinel, which is what Fireline runs on.
_CREATE = """
local held = redis.call('GET', KEYS[1])
if held then
  local raw = redis.call('GET', ARGV[5] .. held)
  if raw then
    local state = cjson.decode(raw)['state']
    if not string.find(ARGV[4], ' ' .. state .. ' ', 1, true) then
      return held
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
return false
"""
_FINAL_NAMES = " " + " ".join(sorted(s.value for s in FINAL)) + " "


Transition = Callable[[Record], Record | None]
"""A pure change to a record; None means "nothing to do" (and nothing is written)."""


class RemediationStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._create = redis.register_script(_CREATE)

    async def new_id(self) -> str:
        try:
            return f"R-{await self.redis.incr(self.keys.remediation_sequence)}"
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def create(self, record: Record, hold_s: int) -> str | None:
        """Save a new request unless its target has an open one; returns that one's ID if so.
        The hold and the record are written together (`_CREATE`)."""
        keys = [
            self.keys.remediation_target(record.target_key),
            self.keys.remediation(record.id),
            self.keys.remediations_active,
        ]
        args: list[str | int] = [
            record.id,
            hold_s,
            record.model_dump_json(),
            _FINAL_NAMES,
            self.keys.remediation(""),
        ]
        try:
            held = await self._create(keys=keys, args=args)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return text(held) if held else None

    async def get(self, remediation_id: str) -> Record | None:
        try:
            raw = await self.redis.get(self.keys.remediation(remediation_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return Record.model_validate_json(raw) if raw else None

    async def update(
        self,
        remediation_id: str,
        change: Transition,
        also: Callable[[Pipeline, Record], object] | None = None,
    ) -> tuple[Record, bool]:
        """Apply `change` atomically (optimistic locking); returns the record and whether this
        call changed it. A final state also drops the target's open-request hold. `also`
        queues more writes on the same transaction, given the new record: made with the change
        or not at all."""

        def decide(raw: bytes | str | None) -> Decision[tuple[Record, bool]]:
            if raw is None:
                raise KeyError(remediation_id)
            current = Record.model_validate_json(raw)
            new = change(current)
            if new is None or new == current:
                return Decision((current, False))

            def writes(pipe: Pipeline) -> None:
                pipe.set(self.keys.remediation(remediation_id), new.model_dump_json())
                if new.final:
                    pipe.srem(self.keys.remediations_active, remediation_id)
                if also is not None:
                    also(pipe, new)

            return Decision((new, True), writes)

        record, changed = await compare_and_set(
            self.redis,
            self.keys.remediation(remediation_id),
            decide,
            gave_up=f"{remediation_id} kept changing; nothing was applied.",
        )
        if changed and record.final:
            await self._release_target(record)
        return record, changed

    async def _release_target(self, record: Record) -> None:
        target = self.keys.remediation_target(record.target_key)
        try:
            if await self.redis.get(target) in (record.id, record.id.encode()):
                await self.redis.delete(target)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def active(self) -> list[Record]:
        try:
            ids = await self.redis.smembers(self.keys.remediations_active)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        found = [await self.get(text(i)) for i in ids]
        return sorted((r for r in found if r is not None), key=lambda r: r.requested_at)

    async def applied_to(self, record: Record, cooldown_s: float) -> None:
        """`record` changed its target: start the target's cooldown, and remember it as the
        last change made to the target."""
        target = record.target_key
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self.keys.remediation_last(target), record.id, ex=LAST_APPLIED_S)
                if cooldown_s > 0:
                    pipe.set(
                        self.keys.remediation_cooldown(target), record.id, ex=int(cooldown_s) or 1
                    )
                await pipe.execute()
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def last_applied(self, target_key: str) -> Record | None:
        """The last request applied to the target (within `LAST_APPLIED_S`), if any."""
        try:
            held = await self.redis.get(self.keys.remediation_last(target_key))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return await self.get(text(held)) if held else None

    async def cooldown(self, target_key: str) -> tuple[str, int] | None:
        """The remediation that last changed the target and the seconds left, if cooling down."""
        key = self.keys.remediation_cooldown(target_key)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                held, ttl = await pipe.execute()
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        if not held:
            return None
        return (held.decode() if isinstance(held, bytes) else str(held)), max(int(ttl), 1)
