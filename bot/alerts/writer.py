"""Alert threads' side of the outbox: what each slot shows, and storm mode.

Slots: `parent:<group>` (the group's parent, posted once then edited), `thread:<group>` (the
group's waiting thread notes, posted as one reply), `digest:<channel>:<n>` (storm n's digest).
Everything is rendered from Redis when the slot's turn comes, so a slot queued ten times sends
the latest state once.

Storm mode: when a new group arrives while its channel has `threshold` slots waiting, the
channel enters storm mode (or already is in it) and the group is listed in the storm's digest,
one message edited in place and first in the queue, so every group is visible within seconds;
the groups' own parents and threads follow at the channel's rate. The storm ends when the
backlog has fallen to half the threshold; the digest says so.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.alerts import digest as digest_blocks
from bot.alerts import views as alert_blocks
from bot.alerts.outbox import CLASS_SPAN, DIGEST, EDIT, NEW_PARENT, THREAD, Outbox, Outgoing
from bot.alerts.store import AlertGroup, AlertStore
from bot.clock import Clock, SystemClock
from bot.errors import SlackRejected, TemporaryError
from bot.store.store import Keys

THREAD_CHARS = 3500
DIGEST_EVERY = 5  # parents posted between two refreshes of the storm digest

# KEYS: the channel's queue, its storm hash. ARGV: threshold. The storm number a new group
# joins (entering storm mode if the backlog has reached the threshold), or 0: no storm; and 1
# if the storm began now.
_JOIN_STORM = """
if redis.call('HGET', KEYS[2], 'on') == '1' then
  return {tonumber(redis.call('HGET', KEYS[2], 'number')), 0}
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then return {0, 0} end
redis.call('HSET', KEYS[2], 'on', '1')
return {redis.call('HINCRBY', KEYS[2], 'number', 1), 1}
"""

# KEYS: the channel's queue, its storm hash. ARGV: low water. Ends the storm when the backlog
# has fallen to `low water`; returns the storm's number if it ended now, else 0.
_END_STORM = """
if redis.call('HGET', KEYS[2], 'on') ~= '1' then return 0 end
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'on', '0')
return tonumber(redis.call('HGET', KEYS[2], 'number'))
"""


def parent_slot(group_id: str) -> str:
    return f"parent:{group_id}"


def thread_slot(group_id: str) -> str:
    return f"thread:{group_id}"


def digest_slot(channel: str, number: int) -> str:
    return f"digest:{channel}:{number}"


class AlertWriter:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        alerts: AlertStore,
        outbox: Outbox,
        *,
        threshold: int,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.clock = clock or SystemClock()
        self.keys = keys
        self.alerts = alerts
        self.outbox = outbox
        self.threshold = max(2, threshold)
        self._join = redis.register_script(_JOIN_STORM)
        self._end = redis.register_script(_END_STORM)
        outbox.writer = self

    # --- queuing, from AlertThreads --------------------------------------------------------

    async def join_storm(self, channel: str) -> int:
        """0, or the number of the storm (in `channel`) a new group is listed in.

        A storm that begins now also lists the groups whose parents are still waiting, so
        every group is visible in its digest rather than behind the queue."""
        joined: Any = await self.alerts.guard(
            self._join(
                keys=[self.keys.outbox_queue(channel), self.keys.storm(channel)],
                args=[self.threshold],
            )
        )
        number, began = int(joined[0]), int(joined[1])
        if began:
            queue = self.keys.outbox_queue(channel)
            low, high = NEW_PARENT * CLASS_SPAN, THREAD * CLASS_SPAN - 1
            waiting: Any = await self.alerts.guard(
                self.redis.zrangebyscore(queue, low, high, withscores=True)
            )
            parents = {
                _text(slot).removeprefix("parent:"): (float(score) - low) / 1000
                for slot, score in waiting
                if _text(slot).startswith("parent:")
            }
            if parents:
                await self.alerts.guard(
                    self.redis.zadd(self.keys.storm_groups(channel, number), parents, nx=True)
                )
        return number

    def queue_in(
        self,
        pipe: Pipeline,
        group: AlertGroup,
        notes: list[str],
        *,
        storm: int = 0,
    ) -> None:
        """Queue the group's parent (post or edit) and its notes, inside `pipe`."""
        slot = thread_slot(group.group_id)
        if notes:
            pipe.rpush(self.keys.outbox_notes(slot), *notes)
        if storm:
            pipe.zadd(
                self.keys.storm_groups(group.channel, storm),
                {group.group_id: group.created_at.timestamp()},
                nx=True,
            )
            self.outbox.enqueue_in(pipe, group.channel, digest_slot(group.channel, storm), DIGEST)
        cls = EDIT if group.parent_ts else NEW_PARENT
        self.outbox.enqueue_in(pipe, group.channel, parent_slot(group.group_id), cls)
        if notes:
            self.outbox.enqueue_in(pipe, group.channel, slot, THREAD)

    # --- the Writer protocol, from the outbox ----------------------------------------------

    async def render(self, channel: str, slot: str) -> Outgoing | None:
        kind, _, ident = slot.partition(":")
        if kind == "parent":
            group = await self.alerts.get_group(ident)
            if group is None:
                return None
            text, body = alert_blocks.parent(group)
            return Outgoing(text, body, edit_ts=group.parent_ts)
        if kind == "thread":
            return await self._thread(channel, slot, ident)
        if kind == "digest":
            return await self._digest(channel, slot)
        raise SlackRejected("outbox", f"unknown_slot:{slot}")

    async def _thread(self, channel: str, slot: str, group_id: str) -> Outgoing | None:
        notes = [_text(n) for n in await self.redis.lrange(self.keys.outbox_notes(slot), 0, -1)]
        if not notes:
            return None
        parent_ts = await self.outbox.sent_ts(parent_slot(group_id))
        if parent_ts is None:
            if parent_slot(group_id) in await self.outbox.parked(channel):
                raise SlackRejected("chat.postMessage", "parent_parked")
            raise TemporaryError("the group's parent is not posted yet")
        taken: list[str] = []
        size = 0
        for note in notes:
            if taken and size + len(note) + 2 > THREAD_CHARS:
                break
            taken.append(note)
            size += len(note) + 2
        return Outgoing("\n\n".join(taken), thread_ts=parent_ts, notes=len(taken), again=THREAD)

    async def _digest(self, channel: str, slot: str) -> Outgoing:
        number = int(slot.rsplit(":", 1)[1])
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(self.keys.storm_groups(channel, number), 0, -1)
        pipe.hmget(self.keys.storm(channel), ["on", "number"])
        ids_raw, (on, current) = await pipe.execute()
        ids = [_text(i) for i in ids_raw]
        storm_on = on in (b"1", "1") and int(current or 0) == number
        groups = await self.alerts.get_groups(ids)
        text, body = digest_blocks.digest(
            [(g, g.parent_ts is not None) for g in groups], storm_on=storm_on
        )
        return Outgoing(text, body, edit_ts=await self.outbox.sent_ts(slot), again=DIGEST)

    async def sent(self, channel: str, slot: str, ts: str, backlog: int) -> None:
        kind, _, ident = slot.partition(":")
        pipe = self.redis.pipeline(transaction=True)
        queued = False
        if kind == "parent" and ts:
            pipe.set(self.keys.alert_group_by_parent(channel, ts), ident)
            number = await self._storm_of(channel, ident)
            posted = await self.redis.hincrby(self.keys.storm(channel), "posted", 1)
            if number and posted % DIGEST_EVERY == 0:
                # Its digest line says the thread is posted; refreshed every few, since every
                # digest edit is a Tier 3 call the parents' own edits need too.
                self.outbox.enqueue_in(pipe, channel, digest_slot(channel, number), DIGEST)
                queued = True
        ended = int(
            await self._end(
                keys=[self.keys.outbox_queue(channel), self.keys.storm(channel)],
                args=[self.threshold // 2],
            )
        )
        if ended:
            slot = digest_slot(channel, ended)
            self.outbox.enqueue_in(pipe, channel, slot, DIGEST)
            # Over: retention may forget its digest's bookkeeping once it is old enough.
            pipe.zadd(self.keys.alerts_retired, {slot: self.clock.now().timestamp()})
            queued = True
        await pipe.execute()
        if queued:
            self.outbox.nudge()

    async def _storm_of(self, channel: str, group_id: str) -> int:
        number = await self.redis.hget(self.keys.storm(channel), "number")
        if not number:
            return 0
        n = int(number)
        score = await self.redis.zscore(self.keys.storm_groups(channel, n), group_id)
        return n if score is not None else 0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
