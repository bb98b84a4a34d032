"""Slack's rate limits as token buckets in Redis, shared by every replica.

Each Web API method has a bucket per workspace (its tier: Tier 2 is 20 calls a minute, Tier 3
50, Tier 4 100), and `chat.postMessage` also one per channel (about one a second). A call takes
a token from each bucket it needs, in one Lua step, before it goes out; so two replicas together
stay inside the limits instead of doubling them. A `Retry-After` from Slack blocks the bucket
for everyone until it has passed.

Two priorities share a bucket: incident work (a person is waiting: declare, commands) and alert
work (the outbox). Alert work leaves one token in reserve and stands aside while incident work
is waiting, so a storm in one channel never delays an incident card.

The buckets run on Redis's clock (`TIME`), so replicas with skewed clocks agree. Bursts are kept
below Slack's so that small timing differences between us and Slack do not end in a 429.
"""

from __future__ import annotations

import asyncio
import enum
import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.store.batching import Batched, ScriptCall, run_scripts
from bot.store.calls import redis_unavailable
from bot.store.keys import Keys

# Method -> tier, from Slack's method reference (`tests/test_slack_budget.py` checks them).
TIERS: dict[str, str] = {
    "chat.update": "t3",
    "chat.postEphemeral": "t4",
    "conversations.create": "t2",
    "conversations.list": "t2",
    "conversations.setTopic": "t2",
    "conversations.setPurpose": "t2",
    "conversations.invite": "t3",
    "conversations.join": "t3",
    "conversations.info": "t3",
    "conversations.history": "t3",
    "conversations.replies": "t3",
    "pins.add": "t2",
    "views.open": "t4",
    "usergroups.users.list": "t2",
    "users.info": "t4",
    "files.getUploadURLExternal": "t4",
    "files.completeUploadExternal": "t4",
}
# Tier -> (calls per minute, burst we allow ourselves: one less than the double grants, since
# Slack documents no burst sizes and a call reaches Slack a little after we take its token).
TIER_RATES: dict[str, tuple[float, float]] = {
    "t1": (1, 1),
    "t2": (20, 4),
    "t3": (50, 9),
    "t4": (100, 19),
}
POST_PER_CHANNEL_PER_S = 1.0
POST_BURST = 3.0
URGENT_HOLD_MS = 1500
MAX_SLEEP_S = 5.0


class Priority(enum.IntEnum):
    INCIDENT = 0  # a person is waiting for it
    ALERT = 1  # the alert outbox: may wait, never goes ahead of incident work


# KEYS: the buckets (hashes) the call needs. ARGV: priority, reserve, then per bucket: rate
# (tokens/ms), size. Returns 0 with a token taken from each bucket, or the milliseconds to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local urgent = ARGV[1] == '0'
local need = 1
if not urgent then need = 1 + tonumber(ARGV[2]) end
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local size = tonumber(ARGV[2 + 2 * i])
  local b = redis.call('HMGET', key, 'tokens', 'stamp', 'until', 'urgent')
  local have = tonumber(b[1]) or size
  local stamp = tonumber(b[2]) or now
  have = math.min(size, have + math.max(0, now - stamp) * rate)
  tokens[i] = have
  local blocked = tonumber(b[3]) or 0
  if blocked > now then wait = math.max(wait, blocked - now) end
  if not urgent and (tonumber(b[4]) or 0) > now then
    wait = math.max(wait, tonumber(b[4]) - now)
  end
  if have < need then wait = math.max(wait, math.ceil((need - have) / rate)) end
end
if wait > 0 then
  if urgent then
    for _, key in ipairs(KEYS) do
      redis.call('HSET', key, 'urgent', now + wait + tonumber(ARGV[#ARGV]))
    end
  end
  return wait
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', tostring(tokens[i] - 1), 'stamp', now)
  redis.call('PEXPIRE', key, 600000)
end
return 0
"""

# KEYS: the bucket Slack limited. ARGV: Retry-After in ms. Blocks it and empties it.
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'until')) or 0
if blocked > current then redis.call('HSET', KEYS[1], 'until', blocked) end
redis.call('HSET', KEYS[1], 'tokens', '0', 'stamp', now)
redis.call('PEXPIRE', KEYS[1], 600000)
return blocked - now
"""


class SlackBudget:
    """Awaitable, priority-ordered Slack call budget shared through Redis."""

    def __init__(self, redis: Redis, keys: Keys, *, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.keys = keys
        self.scale = scale
        self.redis = redis
        self._take = redis.register_script(_TAKE)
        self._block = redis.register_script(_BLOCK)
        # Calls made together (jobs started together) take their tokens in one round trip;
        # each take is still its own atomic step.
        self._takes: Batched[ScriptCall, Any] = Batched(self._take_many)
        self.waits = 0  # how often a call had to wait for a token (for benchmarks)

    def buckets(self, method: str, channel: str | None) -> list[tuple[str, float, float]]:
        """(key, tokens per ms, size) of every bucket a call to `method` draws on."""
        if method == "chat.postMessage":
            if not channel:
                return []
            rate = POST_PER_CHANNEL_PER_S * self.scale / 1000
            return [(self.keys.slack_bucket(f"chat.postMessage:{channel}"), rate, POST_BURST)]
        tier = TIERS.get(method)
        if tier is None:
            return []  # Slack's "special" methods we call rarely (auth.test, getPermalink)
        per_min, burst = TIER_RATES[tier]
        return [(self.keys.slack_bucket(method), per_min * self.scale / 60_000, burst)]

    async def acquire(self, method: str, channel: str | None, priority: Priority) -> int:
        """Wait until a call to `method` (in `channel`) is within Slack's limits; take it.
        Returns how many times it had to wait (`fireline_slack_rate_limit_waits_total`)."""
        buckets = self.buckets(method, channel)
        if not buckets:
            return 0
        waited = 0
        args: list[float | int] = [int(priority), 1]
        for _, rate, size in buckets:
            args += [rate, size]
        args.append(URGENT_HOLD_MS)
        while True:
            wait_ms = int(await self._takes(([b[0] for b in buckets], list(args))))
            if wait_ms <= 0:
                return waited
            waited += 1
            self.waits += 1
            await asyncio.sleep(min(MAX_SLEEP_S, wait_ms / 1000))

    async def _take_many(self, calls: list[ScriptCall]) -> list[Any]:
        return await run_scripts(self.redis, self._take, calls)

    async def blocked(self, method: str, channel: str | None, retry_after_s: float) -> None:
        """Slack answered 429: nobody calls this bucket again before `Retry-After` has passed."""
        buckets = self.buckets(method, channel)
        if not buckets:
            await asyncio.sleep(min(MAX_SLEEP_S, retry_after_s))
            return
        try:
            await self._block(keys=[buckets[0][0]], args=[math.ceil(retry_after_s * 1000)])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
