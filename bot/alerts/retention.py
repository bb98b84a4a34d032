"""Retention: resolved alert groups and finished storm digests are forgotten after a while.

An alert group's record, its seen-set, its parent's index and the outbox's record of what it
posted (`outbox:sent`) would otherwise stay in Redis for ever. A group that resolves is listed
in `alerts:retired` (scored by its last change, in the transaction that saves it; a group that
fires again is taken off it in the same way), and so is a storm's digest when the storm ends.
A sweep, a durable scheduler job (one replica runs it; a restart neither loses nor doubles
it), forgets what has been listed longer than `FIRELINE_ALERT_RETENTION`.

It must never forget something live. Each forgetting is one Lua step that checks, atomically
with the deletes, that the group is still listed and old enough, still resolved, not being
changed right now (its lock is free: every change is made under it), and that the outbox has
nothing for it: no slot waiting, none parked, no post attempted, no thread note queued. A
group that fails a check stays listed and is looked at again at the next sweep. Open
incidents, pending outbox entries and parked writes are never touched: they have no lifetime.

What a forgotten group leaves: its Slack thread, as it was, without buttons (the edit showing
it resolved removed them, and a group whose edit has not gone out is kept). If Alertmanager
sends the group again, it starts a new thread.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.alerts.store import AlertGroup, AlertStore
from bot.alerts.writer import parent_slot, thread_slot
from bot.clock import Clock
from bot.runtime.scheduler import Job, Scheduler
from bot.store.store import Keys, redis_unavailable

log = logging.getLogger(__name__)

SWEEP = "alert-retention"
SWEEP_ID = "alert-retention"
SWEEP_EVERY_S = 3600
BATCH = 200
MAX_PER_SWEEP = 20_000
"""Bounds one sweep's work; what is left is taken by the next one, sooner (`AGAIN_S`)."""
AGAIN_S = 60

# KEYS: retired, group, events, sent, group lock, queue, parked, attempts, thread notes, parent
# index. ARGV: member, cutoff (epoch s), parent slot, thread slot, '1' if the parent index key
# is real. 1 if forgotten, 0 if no longer listed (fired again), -1 if kept for now (busy or
# with outbox work).
_FORGET_GROUP = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return -1 end
local raw = redis.call('GET', KEYS[2])
if raw then
  local ok, doc = pcall(cjson.decode, raw)
  if not ok or doc['status'] ~= 'resolved' then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return 0
  end
end
for i = 3, 4 do
  local slot = ARGV[i]
  if redis.call('ZSCORE', KEYS[6], slot) or redis.call('HEXISTS', KEYS[7], slot) == 1
     or redis.call('HEXISTS', KEYS[8], slot) == 1 then
    return -1
  end
end
if redis.call('EXISTS', KEYS[9]) == 1 then return -1 end
redis.call('DEL', KEYS[2], KEYS[3])
if ARGV[5] == '1' then redis.call('DEL', KEYS[10]) end
redis.call('HDEL', KEYS[4], ARGV[3], ARGV[4])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

# KEYS: retired, storm, storm's groups, sent, queue, parked, attempts. ARGV: member (the digest
# slot), cutoff, storm number. As above: 1 forgotten, 0 not listed, -1 kept for now.
_FORGET_DIGEST = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
local state = redis.call('HMGET', KEYS[2], 'on', 'number')
if state[1] == '1' and tonumber(state[2]) == tonumber(ARGV[3]) then return -1 end
if redis.call('ZSCORE', KEYS[5], ARGV[1]) or redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1
   or redis.call('HEXISTS', KEYS[7], ARGV[1]) == 1 then
  return -1
end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


class AlertRetention:
    """The sweep, and the job that runs it every hour."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        alerts: AlertStore,
        scheduler: Scheduler,
        clock: Clock,
        *,
        keep: timedelta,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.alerts = alerts
        self.scheduler = scheduler
        self.clock = clock
        self.keep = keep
        self._group = redis.register_script(_FORGET_GROUP)
        self._digest = redis.register_script(_FORGET_DIGEST)
        scheduler.register(SWEEP, self._run)

    async def start(self) -> None:
        """Schedule the sweep unless it is (one fixed ID: every replica may ask)."""
        if await self.scheduler.queue.get(SWEEP_ID) is None:
            due = self.clock.now().timestamp() + SWEEP_EVERY_S
            await self.scheduler.schedule(Job(id=SWEEP_ID, kind=SWEEP, due=due))

    async def _run(self, job: Job, late_by: float) -> None:
        forgotten, more = await self.sweep()
        if forgotten:
            log.info("retention: forgot %d resolved alert groups and storm digests", forgotten)
        after = AGAIN_S if more else SWEEP_EVERY_S
        due = self.clock.now().timestamp() + after
        await self.scheduler.schedule(Job(id=SWEEP_ID, kind=SWEEP, due=due))

    async def sweep(self) -> tuple[int, bool]:
        """Forget what has been listed longer than `keep`; returns how many were forgotten and
        whether more may be left than one sweep takes. A batch is two round trips: the groups'
        records read together, then every step sent in one pipeline (each step still atomic)."""
        cutoff = (self.clock.now() - self.keep).timestamp()
        forgotten = looked = kept = 0
        while looked < MAX_PER_SWEEP:
            raw = await self._guard(
                self.redis.zrangebyscore(self.keys.alerts_retired, "-inf", cutoff, kept, BATCH)
            )
            if not raw:
                return forgotten, False
            members = [_text(m) for m in raw]
            ids = [m.partition(":")[2] for m in members if m.startswith("group:")]
            groups = {g.group_id: g for g in await self.alerts.get_groups(ids)}
            pipe = self.redis.pipeline(transaction=False)
            for member in members:
                await self._forget_in(pipe, member, cutoff, groups)
            for done in await self._guard(pipe.execute()):
                forgotten += int(done) == 1
                kept += int(done) == -1
            looked += len(members)
        return forgotten, True

    async def _forget_in(
        self, pipe: Pipeline, member: str, cutoff: float, groups: dict[str, AlertGroup]
    ) -> None:
        """Queue on `pipe` the one step that forgets `member` if it still may be."""
        keys = self.keys
        kind, _, ident = member.partition(":")
        if kind == "digest":
            channel, _, number = ident.rpartition(":")
            await self._digest(
                keys=[
                    keys.alerts_retired,
                    keys.storm(channel),
                    keys.storm_groups(channel, int(number) if number.isdigit() else 0),
                    keys.outbox_sent,
                    keys.outbox_queue(channel),
                    keys.outbox_parked(channel),
                    keys.outbox_attempts(channel),
                ],
                args=[member, cutoff, number],
                client=pipe,
            )
            return
        if kind != "group":
            log.warning("retention: %r is not something it knows; dropped from the list", member)
            pipe.zrem(keys.alerts_retired, member)
            pipe.echo("0")  # keeps one reply per member
            return
        # The channel and parent are fixed once set, so reading them before the step is safe.
        group = groups.get(ident)
        channel = group.channel if group else ""
        parent_ts = group.parent_ts if group else None
        await self._group(
            keys=[
                keys.alerts_retired,
                keys.alert_group(ident),
                keys.alert_events(ident),
                keys.outbox_sent,
                keys.lock(f"alertgroup:{ident}"),
                keys.outbox_queue(channel),
                keys.outbox_parked(channel),
                keys.outbox_attempts(channel),
                keys.outbox_notes(thread_slot(ident)),
                keys.alert_group_by_parent(channel, parent_ts or "-"),
            ],
            args=[
                member,
                cutoff,
                parent_slot(ident),
                thread_slot(ident),
                "1" if parent_ts else "0",
            ],
            client=pipe,
        )

    async def _guard(self, work: Any) -> Any:
        try:
            return await work
        except RedisError as exc:
            raise redis_unavailable(exc) from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
