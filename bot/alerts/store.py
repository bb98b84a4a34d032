"""Alert persistence: the durable inbox (a Redis stream) and each alert group's thread record.

A notification is on the stream before the webhook answers 200, so a crash after that loses
nothing: unacknowledged entries are read again by this replica on restart (same consumer
name) or claimed by another after `STUCK_MS`. Key names come from `bot.store.Keys`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from bot.store.store import Keys, redis_unavailable

ALERT_WORKERS = "fireline-alerts"
STUCK_MS = 60_000
T = TypeVar("T")


class AlertState(BaseModel):
    fingerprint: str
    status: str
    labels: dict[str, str]
    summary: str = ""
    starts_at: datetime


class AlertGroup(BaseModel):
    """One Alertmanager group and the Slack thread that shows it."""

    group_id: str
    group_key: str
    channel: str
    parent_ts: str | None = None
    title: str
    severity: str = ""
    summary: str = ""
    status: str = "firing"
    common_labels: dict[str, str] = Field(default_factory=dict)
    generator_url: str = ""
    runbook_url: str = ""
    external_url: str = ""
    alerts: dict[str, AlertState] = Field(default_factory=dict)
    truncated: int = 0
    acknowledged_by: str | None = None
    incident_id: str | None = None
    playbook: str = ""
    """The playbook matched on the group's first notification ("" for none)."""
    created_at: datetime
    updated_at: datetime

    @property
    def firing(self) -> list[AlertState]:
        return [a for a in self.alerts.values() if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertState]:
        return [a for a in self.alerts.values() if a.status == "resolved"]


class AlertStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def guard(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    # --- inbox -----------------------------------------------------------------------------

    async def ensure_inbox(self) -> None:
        try:
            await self.redis.xgroup_create(
                self.keys.alerts_inbox, ALERT_WORKERS, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise redis_unavailable(exc) from exc
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def enqueue(self, body: bytes) -> str:
        entry = await self.guard(self.redis.xadd(self.keys.alerts_inbox, {"body": body}))
        return _text(entry)

    async def read(self, consumer: str, *, pending: bool, block_ms: int) -> list[tuple[str, bytes]]:
        """New entries for `consumer` (blocking up to `block_ms`), or its own unacked ones."""
        response = await self.guard(
            self.redis.xreadgroup(
                ALERT_WORKERS,
                consumer,
                {self.keys.alerts_inbox: "0" if pending else ">"},
                count=50,
                block=None if pending else block_ms,
            )
        )
        return _entries(response)

    async def claim_stuck(self, consumer: str) -> list[tuple[str, bytes]]:
        """Entries another (dead) consumer read but never acknowledged."""
        response = await self.guard(
            self.redis.xautoclaim(
                self.keys.alerts_inbox, ALERT_WORKERS, consumer, STUCK_MS, "0-0", count=50
            )
        )
        messages = response[1] if isinstance(response, list | tuple) else []
        return [(_text(i), f[b"body"]) for i, f in messages if f]

    async def done(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.keys.alerts_inbox, ALERT_WORKERS, entry_id)
        pipe.xdel(self.keys.alerts_inbox, entry_id)
        await self.guard(pipe.execute())

    async def backlog(self) -> int:
        return int(await self.guard(self.redis.xlen(self.keys.alerts_inbox)))

    # --- groups ----------------------------------------------------------------------------

    async def get_group(self, group_id: str) -> AlertGroup | None:
        groups = await self.get_groups([group_id])
        return groups[0] if groups else None

    async def get_groups(self, group_ids: list[str]) -> list[AlertGroup]:
        """The groups that exist, in order; `parent_ts` as the outbox recorded it."""
        if not group_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        pipe.mget([self.keys.alert_group(g) for g in group_ids])
        pipe.hmget(self.keys.outbox_sent, [f"parent:{g}" for g in group_ids])
        raws, sent = await self.guard(pipe.execute())
        groups = []
        for raw, ts in zip(raws, sent, strict=True):
            if raw:
                group = AlertGroup.model_validate_json(raw)
                if group.parent_ts is None and ts:
                    group.parent_ts = _text(ts)  # posted by the outbox (bot.alert_writer)
                groups.append(group)
        return groups

    async def commit(
        self, group: AlertGroup, seen: list[str], queue: Callable[[Pipeline], None]
    ) -> None:
        """Save the group, what it has shown and its Slack writes (`queue`) in one step."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.alert_group(group.group_id), group.model_dump_json())
        if group.parent_ts:  # also written when the outbox posts it; here again, in case
            pipe.set(
                self.keys.alert_group_by_parent(group.channel, group.parent_ts), group.group_id
            )
        self._retire_in(pipe, group)
        if seen:
            pipe.sadd(self.keys.alert_events(group.group_id), *seen)
        queue(pipe)
        await self.guard(pipe.execute())

    async def save_group(self, group: AlertGroup) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.alert_group(group.group_id), group.model_dump_json())
        if group.parent_ts:
            pipe.set(
                self.keys.alert_group_by_parent(group.channel, group.parent_ts), group.group_id
            )
        self._retire_in(pipe, group)
        await self.guard(pipe.execute())

    def _retire_in(self, pipe: Pipeline, group: AlertGroup) -> None:
        """A resolved group is listed for retention from its last change; a firing one is not
        (so it is never forgotten while open), in the same transaction as the group itself."""
        member = retired_group(group.group_id)
        if group.status == "resolved":
            pipe.zadd(self.keys.alerts_retired, {member: group.updated_at.timestamp()})
        else:
            pipe.zrem(self.keys.alerts_retired, member)

    async def group_by_parent(self, channel: str, ts: str) -> AlertGroup | None:
        group_id = await self.guard(self.redis.get(self.keys.alert_group_by_parent(channel, ts)))
        return await self.get_group(_text(group_id)) if group_id else None

    async def unseen(self, group_id: str, event_keys: list[str]) -> list[str]:
        if not event_keys:
            return []
        seen = await self.guard(self.redis.smismember(self.keys.alert_events(group_id), event_keys))
        return [k for k, s in zip(event_keys, seen, strict=True) if not s]

    async def mark_seen(self, group_id: str, event_keys: list[str]) -> None:
        if event_keys:
            await self.guard(self.redis.sadd(self.keys.alert_events(group_id), *event_keys))

    # --- silences made from Slack ----------------------------------------------------------

    async def claim_silence(self, group_id: str, record: str, ttl_s: int) -> str | None:
        """Claim the group's silence with `record`; None if ours, else the record there already."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.alert_silence(group_id), record, nx=True, ex=ttl_s)
        pipe.get(self.keys.alert_silence(group_id))
        created, current = await self.guard(pipe.execute())
        return None if created else (_text(current) if current else None)

    async def save_silence(self, group_id: str, record: str) -> None:
        key = self.keys.alert_silence(group_id)
        await self.guard(self.redis.set(key, record, xx=True, keepttl=True))

    async def drop_silence(self, group_id: str) -> None:
        await self.guard(self.redis.delete(self.keys.alert_silence(group_id)))


def retired_group(group_id: str) -> str:
    """A resolved group's member in `Keys.alerts_retired`."""
    return f"group:{group_id}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(response: Any) -> list[tuple[str, bytes]]:
    entries: list[tuple[str, bytes]] = []
    for _stream, messages in response or []:
        for entry_id, fields in messages:
            if fields:
                entries.append((_text(entry_id), fields[b"body"]))
    return entries
