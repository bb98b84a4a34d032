"""The durable per-channel outbox for alert writes to Slack.

A write is a *slot* (`parent:<group>`, `thread:<group>`, `digest:<channel>:<n>`) queued per
channel in Redis, ordered by class (digest, new parents, thread notes, parent edits) and then
by when it was first queued. Queuing a slot that is already waiting keeps its place and bumps
its version: successive edits of one message are coalesced, and what is sent is rendered from
the latest state when its turn comes (`Writer.render`). A send is complete only when its
result is recorded, in one Lua step with removing the slot (unless a newer version arrived).

One replica drains a channel at a time (a lease), at alert priority through the shared Slack
budget, so replicas neither double the channel's rate nor post an entry twice. Before a post
goes out its marker is recorded, and confirmed on a replica (a failover must not drop it); a
slot found with a marker after a crash or a failover is first looked up in Slack by that
marker (message metadata) and adopted instead of posted again. Slack's permanent refusals
park the slot (kept with the reason, retried on request), never drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.errors import FirelineError, TemporaryError, Throttled
from bot.gateways.slack import Blocks, SlackGateway
from bot.metrics import Metrics
from bot.store import scripts
from bot.store.calls import WITNESS_TTL_MS, witness
from bot.store.store import Keys, raise_if_cancelled, redis_unavailable, replicated

log = logging.getLogger(__name__)
T = TypeVar("T")

DIGEST, NEW_PARENT, THREAD, EDIT = 0, 1, 2, 3
CLASS_SPAN = 10**13  # above any epoch-milliseconds value
LEASE_MS = 10_000
IDLE_WAKE_S = 1.0
RETRY_PAUSE_S = 1.0

# KEYS: queue, versions, attempts, sent, notes. ARGV: slot, version read before rendering, ts
# ('' for an edit), notes sent, score if it stays ('' keeps it). Records the result; removes
# the slot unless it was queued again meanwhile. 1 if removed.
_COMPLETE = """
if ARGV[3] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[3]) end
redis.call('HDEL', KEYS[3], ARGV[1])
local n = tonumber(ARGV[4])
if n > 0 then redis.call('LTRIM', KEYS[5], n, -1) end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[1], 'XX', ARGV[5], ARGV[1]) end
return 0
"""

# KEYS: queue, versions, attempts, parked, parked channels. ARGV: slot, why, channel. Moves the
# slot to the channel's parked hash.
_PARK = """
redis.call('SADD', KEYS[5], ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return 1
"""

# KEYS: queue, channels. ARGV: channel. Forgets an empty channel (atomically with the check).
_RETIRE = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: lease. ARGV: token, ttl ms, instance. Takes or renews it; a lease left by this same
# instance before a restart (token differs, same instance prefix) is taken over at once.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1]
   or string.sub(holder, 1, string.len(ARGV[3]) + 1) == ARGV[3] .. '|' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""


@dataclass
class Outgoing:
    """One Slack write a slot renders to."""

    text: str
    blocks: Blocks | None = None
    edit_ts: str | None = None  # chat.update this message; else chat.postMessage
    thread_ts: str | None = None
    notes: int = 0  # thread notes this write carries (trimmed on completion)
    again: int = EDIT  # the class it waits in if it changed while being sent


class Writer(Protocol):
    """Renders slots at send time (the alert side: `bot.alert_writer`)."""

    async def render(self, channel: str, slot: str) -> Outgoing | None:
        """What to send for `slot` now; None if nothing is left to send."""

    async def sent(self, channel: str, slot: str, ts: str, backlog: int) -> None:
        """Called after a slot's write is recorded (`backlog`: slots still waiting)."""


class Outbox:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        slack: SlackGateway,
        *,
        instance: str,
        metrics: Metrics | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.slack = slack
        self.instance = instance
        self.metrics = metrics or Metrics()
        self.writer: Writer | None = None
        self._complete = redis.register_script(_COMPLETE)
        self._park = redis.register_script(_PARK)
        self._retire = redis.register_script(_RETIRE)
        self._lease = redis.register_script(_LEASE)
        self._release = redis.register_script(scripts.RELEASE_LOCK)
        self._token = f"{instance}|{secrets.token_hex(6)}"
        self._wake = asyncio.Event()
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self.sends = 0

    # --- queuing (inside the caller's transaction) -----------------------------------------

    def enqueue_in(self, pipe: Pipeline, channel: str, slot: str, cls: int) -> None:
        """Queue `slot` (keeping its place if it is waiting already) as part of `pipe`."""
        score = cls * CLASS_SPAN + int(time.time() * 1000)
        pipe.zadd(self.keys.outbox_queue(channel), {slot: score}, nx=True)
        pipe.hincrby(self.keys.outbox_versions(channel), slot, 1)
        pipe.sadd(self.keys.outbox_channels, channel)

    def nudge(self) -> None:
        self._wake.set()

    async def backlog(self, channel: str) -> int:
        return int(await self._guard(self.redis.zcard(self.keys.outbox_queue(channel))))

    async def waiting(self) -> int:
        """Slots waiting in every channel (for tests and the benchmark)."""
        channels = await self._guard(self.redis.smembers(self.keys.outbox_channels))
        return sum([await self.backlog(_text(c)) for c in channels])

    async def sent_ts(self, slot: str) -> str | None:
        ts = await self._guard(self.redis.hget(self.keys.outbox_sent, slot))
        return _text(ts) if ts else None

    async def parked(self, channel: str) -> dict[str, str]:
        raw = await self._guard(self.redis.hgetall(self.keys.outbox_parked(channel)))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def parked_everywhere(self) -> dict[str, dict[str, str]]:
        """Channel → its parked slots and why (`fireline outbox`)."""
        channels = await self._guard(self.redis.smembers(self.keys.outbox_parked_channels))
        found = {_text(c): await self.parked(_text(c)) for c in channels}
        return {c: p for c, p in found.items() if p}

    async def retry_parked(self, channel: str) -> int:
        """Queue every parked slot of `channel` again; returns how many."""
        parked = await self.parked(channel)
        if not parked:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        for slot, why in parked.items():
            cls = int(json.loads(why).get("class", EDIT))
            pipe.hdel(self.keys.outbox_parked(channel), slot)
            self.enqueue_in(pipe, channel, slot, cls)
        await self._guard(pipe.execute())
        self.nudge()
        return len(parked)

    # --- draining --------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        """Drain every channel with waiting slots whose lease this replica gets."""
        while not self._stopping:
            try:
                channels = await self._guard(self.redis.smembers(self.keys.outbox_channels))
            except TemporaryError as exc:
                log.warning("outbox: %s", exc)
                self.metrics.redis_error("outbox")
                channels = set()
            for raw in channels:
                channel = _text(raw)
                if channel not in self._draining:
                    task = asyncio.ensure_future(self._drain(channel))
                    self._draining[channel] = task
                    task.add_done_callback(self._forget(channel))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_WAKE_S)
        # Each drainer stops after the send it is in (bounded by whoever awaits this loop,
        # which cancels it at its deadline) and hands its channel's lease back.
        if self._draining:
            await asyncio.gather(*self._draining.values(), return_exceptions=True)

    def _forget(self, channel: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            self._draining.pop(channel, None)

        return forget

    async def _drain(self, channel: str) -> None:
        lease = self.keys.outbox_lease(channel)
        queue = self.keys.outbox_queue(channel)
        drainer = asyncio.current_task()
        assert drainer is not None
        beat = asyncio.ensure_future(self._heartbeat(lease, drainer))
        try:
            while not self._stopping:
                held = await self._lease(keys=[lease], args=[self._token, LEASE_MS, self.instance])
                if not held:
                    return  # another replica drains this channel
                head = await self.redis.zrange(queue, 0, 0)
                if not head:
                    if await self._retire(keys=[queue, self.keys.outbox_channels], args=[channel]):
                        await self.redis.delete(lease)
                        return
                    continue
                await self._send_one(channel, _text(head[0]))
        except RedisError as exc:
            raise_if_cancelled()
            self.metrics.redis_error("outbox")
            log.warning("outbox for %s: Redis failed (%s); resuming on the next wake", channel, exc)
        except Exception:
            log.exception("outbox for %s stopped unexpectedly; resuming on the next wake", channel)
        finally:
            beat.cancel()
            if self._stopping:
                await self._hand_over(lease)

    async def _hand_over(self, lease: str) -> None:
        """Release this replica's lease on a channel as it stops, so another drains it at once
        instead of after `LEASE_MS` (only if still ours: the token is compared in Redis)."""
        try:
            await self._release(keys=[lease], args=[self._token])
        except RedisError:
            log.warning("outbox lease %s not released; it runs out in %d ms", lease, LEASE_MS)

    async def _heartbeat(self, lease: str, drainer: asyncio.Task[None]) -> None:
        """Keep the lease while a send waits (for the budget, or Slack); stop the drainer if it
        is lost, so no other replica's drainer and this one ever send the same slot."""
        while True:
            await asyncio.sleep(LEASE_MS / 3000)
            try:
                held = await self._lease(keys=[lease], args=[self._token, LEASE_MS, self.instance])
            except RedisError:
                held = False
            if not held:
                log.warning("outbox lease %s lost; this replica stops draining it", lease)
                drainer.cancel()
                return

    async def _send_one(self, channel: str, slot: str) -> None:
        assert self.writer is not None, "the outbox needs a writer before it drains"
        try:
            await self.send(channel, slot)
        except Throttled as exc:
            self.metrics.outbox_sends.labels("throttled").inc()
            await asyncio.sleep(max(exc.retry_after or 1.0, 0.05))  # the budget is blocked as well
        except TemporaryError as exc:
            self.metrics.outbox_sends.labels("retried").inc()
            log.warning("outbox %s %s: %s; retrying", channel, slot, exc)
            await asyncio.sleep(RETRY_PAUSE_S)
        except FirelineError as exc:
            self.metrics.outbox_sends.labels("parked").inc()
            await self.park(channel, slot, str(exc))
        else:
            self.metrics.outbox_sends.labels("sent").inc()

    async def park(self, channel: str, slot: str, why: str) -> None:
        keys = self.keys
        score = await self.redis.zscore(keys.outbox_queue(channel), slot)
        cls = int(score) // CLASS_SPAN if score is not None else EDIT
        await self._park(
            keys=[
                keys.outbox_queue(channel),
                keys.outbox_versions(channel),
                keys.outbox_attempts(channel),
                keys.outbox_parked(channel),
                keys.outbox_parked_channels,
            ],
            args=[slot, json.dumps({"why": why, "class": cls}), channel],
        )
        log.error(
            "outbox %s %s parked: %s (`fireline outbox --retry` sends it again)", channel, slot, why
        )

    async def send(self, channel: str, slot: str) -> None:
        """Send one slot now (the drainer's step; tests call it to stage a crash)."""
        assert self.writer is not None
        keys = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.outbox_versions(channel), slot)
        pipe.hget(keys.outbox_attempts(channel), slot)
        version, attempt = await pipe.execute()
        version = _text(version) if version else ""
        out = await self.writer.render(channel, slot)
        if out is None:
            await self._record(channel, slot, version, "", Outgoing(""))
            return
        if out.edit_ts:
            await self.slack.update_message(channel, out.edit_ts, out.text, out.blocks)
            await self._record(channel, slot, version, "", out)
            return
        if attempt:
            # A post went out before a crash, or did not: Slack knows which.
            earlier = json.loads(attempt)
            found = await self.slack.find_marked(
                channel, earlier["marker"], thread_ts=out.thread_ts, oldest=earlier["at"]
            )
            if found:
                log.info("outbox %s %s: adopting %s posted before a restart", channel, slot, found)
                earlier_out = Outgoing("", notes=int(earlier["notes"]))
                await self._record(channel, slot, earlier["version"], found, earlier_out)
                return
        marker = f"{slot}#{secrets.token_hex(6)}"
        await self._mark(channel, slot, marker, version, out.notes)
        ts = await self.slack.post_message(
            channel, out.text, out.blocks, thread_ts=out.thread_ts, marker=marker
        )
        await self._record(channel, slot, version, ts, out)

    async def _mark(self, channel: str, slot: str, marker: str, version: str, notes: int) -> None:
        """Record the attempt before its post, and know a failover keeps it: on the replicas
        the client waits for (`replicated()`, with a witness), or `Unavailable` and no post.

        The marker is all a later send has to find this post by. Made only on a master that
        then died, a failover drops it while the post stands in Slack, and the slot, found
        without a marker, is posted again (`docs/decisions/outbox.md`)."""
        attempt = {
            "marker": marker,
            "at": f"{time.time() - 60:.6f}",
            "version": version,
            "notes": notes,
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.outbox_attempts(channel), slot, json.dumps(attempt))
        proof = witness(self.redis)
        if proof is not None:
            pipe.set(proof[0], proof[1], px=WITNESS_TTL_MS)
        await self._guard(pipe.execute())
        await replicated(self.redis, proof)

    async def _record(self, channel: str, slot: str, version: str, ts: str, out: Outgoing) -> None:
        assert self.writer is not None
        keys = self.keys
        requeue = out.again * CLASS_SPAN + int(time.time() * 1000) if ts else ""
        await self._complete(
            keys=[
                keys.outbox_queue(channel),
                keys.outbox_versions(channel),
                keys.outbox_attempts(channel),
                keys.outbox_sent,
                keys.outbox_notes(slot),
            ],
            args=[slot, version, ts, out.notes, requeue],
        )
        self.sends += 1
        await self.writer.sent(channel, slot, ts, await self.backlog(channel))

    async def report(self, metrics: Metrics) -> None:
        """Set the outbox gauges from Redis: depth, oldest write's age and parked writes per
        channel, in two round trips (a scrape's reader; `bot.metrics`). Redis failing is
        `Unavailable`, which the scrape counts as a Redis error."""
        keys = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(keys.outbox_channels)
        pipe.smembers(keys.outbox_parked_channels)
        queued, parked_in = await self._guard(pipe.execute())
        channels = sorted({_text(c) for c in queued} | {_text(c) for c in parked_in})
        pipe = self.redis.pipeline(transaction=False)
        for channel in channels:
            pipe.zcard(keys.outbox_queue(channel))
            pipe.hlen(keys.outbox_parked(channel))
            for cls in (DIGEST, NEW_PARENT, THREAD, EDIT):
                low = cls * CLASS_SPAN
                pipe.zrangebyscore(
                    keys.outbox_queue(channel), low, low + CLASS_SPAN - 1, 0, 1, withscores=True
                )
        replies = await self._guard(pipe.execute()) if channels else []
        now_ms = time.time() * 1000
        depth: dict[str, float] = {}
        age: dict[str, float] = {}
        parked: dict[str, float] = {}
        for label in metrics.channels:  # a configured channel with nothing waiting shows 0
            depth[label] = age[label] = parked[label] = 0
        per = 6
        for i, channel in enumerate(channels):
            size, held, *heads = replies[i * per : (i + 1) * per]
            queued_at = [score % CLASS_SPAN for head in heads for _, score in head]
            oldest = max(0.0, (now_ms - min(queued_at)) / 1000) if queued_at else 0.0
            label = metrics.channel(channel)
            depth[label] = depth.get(label, 0) + int(size)
            parked[label] = parked.get(label, 0) + int(held)
            age[label] = max(age.get(label, 0.0), oldest)
        for gauge, values in (
            (metrics.outbox_depth, depth),
            (metrics.outbox_oldest_age, age),
            (metrics.outbox_parked, parked),
        ):
            gauge.clear()
            for label, value in values.items():
                gauge.labels(label).set(value)

    async def _guard(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except RedisError as exc:
            raise redis_unavailable(exc) from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
