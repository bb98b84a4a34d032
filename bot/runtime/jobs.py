"""The scheduler's durable queue: jobs in Redis, claimed once across replicas.

- Durable: a job is a Redis hash plus its ID in the `jobs:due` sorted set (score: due time).
  A restart loses nothing; a job whose time passed while every replica was down is claimed at
  the next start.
- Exactly once across replicas: one Lua call moves due jobs from `jobs:due` to `jobs:leased`
  and hands each to one claimer with a lease token. The claimer renews the lease while the job
  runs; a crashed claimer's lease runs out and the job is due again. Completing writes a
  short-lived done record, so a job a stale claimer finished is not run a second time.
- Few round trips: one claim call hands out up to a batch of jobs with their documents;
  completions made in the same turn of the loop go out in one pipeline (`bot.store.batching`),
  and the leases a replica holds are renewed, or handed back, in one pipeline. Each job's step
  is still its own Lua script, checked against its own lease token.

Key names come from `bot.store.keys`. What runs the jobs, and when: `bot.runtime.scheduler`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.store.batching import Batched, ScriptCall, run_scripts
from bot.store.calls import redis_unavailable, text
from bot.store.store import Store

DONE_TTL_S = 24 * 3600

# Requeues expired leases, then claims up to ARGV[3] due jobs. KEYS: due, leased.
# ARGV: now, lease_until, limit, job key prefix, token, done prefix.
# Returns {next due score or '', doc1, token1, doc2, token2, …}.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', ARGV[4] .. id, 'lease')
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local out = {''}
local claimed = 0
local limit = tonumber(ARGV[3])
while claimed < limit do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #head == 0 or tonumber(head[2]) > tonumber(ARGV[1]) then break end
  local id = head[1]
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[4] .. id
  local doc = redis.call('HGET', key, 'doc')
  local due = redis.call('HGET', key, 'due')
  if doc and redis.call('EXISTS', ARGV[6] .. id .. ':' .. (due or '')) == 0 then
    local token = ARGV[5] .. ':' .. claimed
    redis.call('HSET', key, 'lease', token)
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(out, doc)
    table.insert(out, token)
    claimed = claimed + 1
  elseif doc then
    redis.call('DEL', key)
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local best = nil
if #nxt > 0 then best = tonumber(nxt[2]) end
if #lease > 0 and (best == nil or tonumber(lease[2]) < best) then best = tonumber(lease[2]) end
if best then out[1] = tostring(best) end
return out
"""

# Adds or replaces a job (a replaced job's running copy loses its lease). KEYS: job, due,
# leased, group. ARGV: id, doc, due.
_SCHEDULE = """
if KEYS[5] ~= '' and not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'due', ARGV[3])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if KEYS[4] ~= '' then redis.call('SADD', KEYS[4], ARGV[1]) end
return 1
"""

# Cancels jobs. KEYS: due, leased. ARGV: job key prefix, group key or '', ids…
_CANCEL = """
local n = 0
local ids = {}
for i = 3, #ARGV do table.insert(ids, ARGV[i]) end
if ARGV[2] ~= '' then
  for _, id in ipairs(redis.call('SMEMBERS', ARGV[2])) do table.insert(ids, id) end
  redis.call('DEL', ARGV[2])
end
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return n
"""

# Finishes a claimed run if the lease is still ours. KEYS: job, leased, group, done record.
# ARGV: id, token, done ttl.
_COMPLETE = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] ~= '' then redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('SET', KEYS[4], '1', 'EX', tonumber(ARGV[3]))
return 1
"""

# Puts a claimed job back for a later attempt if the lease is still ours.
# KEYS: job, due, leased. ARGV: id, token, doc, due.
_RETRY = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[3])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""

# Extends a lease we still hold. KEYS: job, leased. ARGV: id, token, lease_until.
_RENEW = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return 1
"""


class Job(BaseModel):
    """One thing to do at one time. `id` is chosen by the caller, so scheduling is an upsert."""

    id: str
    kind: str
    due: float
    """When to run, epoch seconds (UTC)."""
    group: str | None = None
    """Jobs sharing a group (an incident) can be cancelled together."""
    data: dict[str, Any] = Field(default_factory=dict)
    attempt: int = 0

    @property
    def due_at(self) -> datetime:
        return datetime.fromtimestamp(self.due, UTC)


class JobQueue:
    """The scheduler's Redis operations, one Lua step each where they must be atomic."""

    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self._claim = self.redis.register_script(_CLAIM)
        self._schedule = self.redis.register_script(_SCHEDULE)
        self._cancel = self.redis.register_script(_CANCEL)
        self._complete = self.redis.register_script(_COMPLETE)
        self._retry = self.redis.register_script(_RETRY)
        self._renew = self.redis.register_script(_RENEW)
        self._completing: Batched[tuple[Job, str], Any] = Batched(self._complete_many)

    def _group(self, job: Job) -> str:
        return self.keys.job_group(job.group) if job.group else ""

    async def schedule(self, job: Job, *, once: tuple[str, int] | None = None) -> bool:
        """Schedule (or reschedule) `job`. With `once=(claim key, ttl s)`, only if that claim
        is not taken, and the claim is taken in the same step: a crash cannot leave a claim
        without its job (work lost) or a job without its claim (work done twice)."""
        claim, ttl = once or ("", 0)
        keys = [self.keys.job(job.id), self.keys.jobs_due, self.keys.jobs_leased]
        return bool(
            await self._run(
                self._schedule,
                [*keys, self._group(job), claim],
                [job.id, job.model_dump_json(), repr(job.due), str(ttl)],
            )
        )

    def schedule_in(self, pipe: Pipeline, job: Job) -> None:
        """Queue `schedule(job)`'s writes on the caller's transaction (after `MULTI`): the job
        then exists exactly when the caller's own change was made, never one without the other
        (an approval recorded and its run job lost to a failed or cut-short second call)."""
        key = self.keys.job(job.id)
        pipe.hset(key, mapping={"doc": job.model_dump_json(), "due": repr(job.due)})
        pipe.hdel(key, "lease")
        pipe.zrem(self.keys.jobs_leased, job.id)
        pipe.zadd(self.keys.jobs_due, {job.id: job.due})
        if job.group:
            pipe.sadd(self._group(job), job.id)

    async def cancel(self, *job_ids: str, group: str | None = None) -> int:
        group_key = self.keys.job_group(group) if group else ""
        return int(
            await self._run(
                self._cancel,
                [self.keys.jobs_due, self.keys.jobs_leased],
                [self.keys.job_prefix, group_key, *job_ids],
            )
        )

    async def claim(
        self, now: float, lease_s: float, limit: int
    ) -> tuple[list[tuple[Job, str]], float | None]:
        """Claim up to `limit` due jobs; also returns the next time anything needs a look."""
        token = secrets.token_hex(8)
        raw = await self._run(
            self._claim,
            [self.keys.jobs_due, self.keys.jobs_leased],
            [
                repr(now),
                repr(now + lease_s),
                limit,
                self.keys.job_prefix,
                token,
                self.keys.job_done_prefix,
            ],
        )
        head = text(raw[0])
        jobs = [(Job.model_validate_json(raw[i]), text(raw[i + 1])) for i in range(1, len(raw), 2)]
        return jobs, float(head) if head else None

    async def complete(self, job: Job, token: str) -> bool:
        """Mark a claimed run done if the lease is still ours (False: it was not, or the job
        was cancelled or replaced meanwhile). Batched with the other completions of this turn."""
        return bool(await self._completing((job, token)))

    async def _complete_many(self, runs: list[tuple[Job, str]]) -> list[Any]:
        return await self._many(self._complete, [self._complete_call(j, t) for j, t in runs])

    def _complete_call(self, job: Job, token: str) -> tuple[list[str], list[Any]]:
        done = f"{self.keys.job_done_prefix}{job.id}:{job.due!r}"
        keys = [self.keys.job(job.id), self.keys.jobs_leased, self._group(job), done]
        return keys, [job.id, token, DONE_TTL_S]

    async def retry(self, job: Job, token: str, due: float) -> bool:
        again = job.model_copy(update={"attempt": job.attempt + 1})
        keys, args = self._retry_call(again, token, due)
        return bool(await self._run(self._retry, keys, args))

    def _retry_call(self, job: Job, token: str, due: float) -> tuple[list[str], list[Any]]:
        keys = [self.keys.job(job.id), self.keys.jobs_due, self.keys.jobs_leased]
        return keys, [job.id, token, job.model_dump_json(), repr(due)]

    async def release(self, held: list[tuple[Job, str]]) -> int:
        """Hand claimed jobs back, due at once and with no attempt counted (a replica that
        stops without running them), in one pipeline; how many were still ours."""
        calls = [self._retry_call(job, token, job.due) for job, token in held]
        return sum(1 for r in await self._many(self._retry, calls) if r == 1)

    async def renew(self, held: list[tuple[Job, str]], lease_until: float) -> int:
        """Extend the leases of claimed jobs, in one pipeline; how many were still ours."""
        calls = [
            ([self.keys.job(job.id), self.keys.jobs_leased], [job.id, token, repr(lease_until)])
            for job, token in held
        ]
        return sum(1 for r in await self._many(self._renew, calls) if r == 1)

    async def get(self, job_id: str) -> Job | None:
        try:
            raw = await self.redis.hget(self.keys.job(job_id), "doc")
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return Job.model_validate_json(raw) if raw else None

    async def oldest_due(self) -> float | None:
        """The due time of the soonest job waiting to be claimed (`/metrics`), or None."""
        try:
            head = await self.redis.zrange(self.keys.jobs_due, 0, 0, withscores=True)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return float(head[0][1]) if head else None

    async def pending(self, group: str) -> list[Job]:
        """The jobs still scheduled (or running) for a group, soonest first."""
        try:
            ids = await self.redis.smembers(self.keys.job_group(group))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        jobs = [job for i in sorted(ids) if (job := await self.get(text(i))) is not None]
        return sorted(jobs, key=lambda j: j.due)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def _many(self, script: Any, calls: list[ScriptCall]) -> list[Any]:
        return await run_scripts(self.redis, script, calls)
