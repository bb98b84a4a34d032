"""A durable job scheduler on one Redis sorted set: a job due at T runs once, at T.

Why our own and not a library: see `docs/decisions/scheduler.md`.

- Durable: a job is a Redis hash plus its ID in the `jobs:due` sorted set (score: due time).
  A restart loses nothing; a job whose time passed while every replica was down runs at the
  next start, and its handler is told how late it is.
- Exactly once across replicas: one Lua call moves due jobs from `jobs:due` to `jobs:leased`
  and hands each to one claimer with a lease token. The claimer renews the lease while the job
  runs; a crashed claimer's lease runs out and the job is due again. Completing writes a
  short-lived done record, so a job a stale claimer finished is not run a second time.
- No busy polling: the loop sleeps until the next due time (or `max_sleep_s`, which bounds how
  late a job another replica added can be seen), and `schedule()` wakes it at once when it adds
  an earlier job. Each wake-up is one Lua call.
- Time comes from the injected `Clock`; tests move it instead of sleeping.

Job kinds are registered explicitly: the owner passes a mapping kind → handler. A handler
raises `TemporaryError` to be retried with backoff; anything else ends the job (the handler is
expected to have recorded what went wrong where people will see it).

This module never talks to Slack and knows nothing about incidents beyond a job's `group`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from bot.clock import Clock
from bot.errors import TemporaryError
from bot.store.store import Store, raise_if_cancelled, redis_unavailable

log = logging.getLogger(__name__)

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


JobHandler = Callable[[Job, float], Awaitable[None]]
"""Runs a job; the second argument is how many seconds after its due time it started."""

GiveUp = Callable[[Job, Exception], Awaitable[None]]


class JobQueue:
    """The scheduler's Redis operations. Key names come from `bot.store.Keys`."""

    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self._claim = self.redis.register_script(_CLAIM)
        self._schedule = self.redis.register_script(_SCHEDULE)
        self._cancel = self.redis.register_script(_CANCEL)
        self._complete = self.redis.register_script(_COMPLETE)
        self._retry = self.redis.register_script(_RETRY)
        self._renew = self.redis.register_script(_RENEW)

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
        head = _text(raw[0])
        jobs = [(Job.model_validate_json(raw[i]), _text(raw[i + 1])) for i in range(1, len(raw), 2)]
        return jobs, float(head) if head else None

    async def complete(self, job: Job, token: str) -> bool:
        done = f"{self.keys.job_done_prefix}{job.id}:{job.due!r}"
        keys = [self.keys.job(job.id), self.keys.jobs_leased, self._group(job), done]
        return bool(await self._run(self._complete, keys, [job.id, token, DONE_TTL_S]))

    async def retry(self, job: Job, token: str, due: float) -> bool:
        again = job.model_copy(update={"attempt": job.attempt + 1})
        keys = [self.keys.job(job.id), self.keys.jobs_due, self.keys.jobs_leased]
        return bool(
            await self._run(self._retry, keys, [job.id, token, again.model_dump_json(), repr(due)])
        )

    async def renew(self, job: Job, token: str, lease_until: float) -> bool:
        keys = [self.keys.job(job.id), self.keys.jobs_leased]
        return bool(await self._run(self._renew, keys, [job.id, token, repr(lease_until)]))

    async def get(self, job_id: str) -> Job | None:
        try:
            raw = await self.redis.hget(self.keys.job(job_id), "doc")
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return Job.model_validate_json(raw) if raw else None

    async def pending(self, group: str) -> list[Job]:
        """The jobs still scheduled (or running) for a group, soonest first."""
        try:
            ids = await self.redis.smembers(self.keys.job_group(group))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        jobs = [job for i in sorted(ids) if (job := await self.get(_text(i))) is not None]
        return sorted(jobs, key=lambda j: j.due)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc


class Scheduler:
    """Runs due jobs from a `JobQueue` with the handlers it was given, one kind each."""

    def __init__(
        self,
        queue: JobQueue,
        clock: Clock,
        handlers: Mapping[str, JobHandler] | None = None,
        *,
        give_up: GiveUp | None = None,
        lease_s: float = 60.0,
        max_sleep_s: float = 1.0,
        batch: int = 100,
        concurrency: int = 64,
        max_attempts: int = 8,
    ) -> None:
        self.queue = queue
        self.clock = clock
        self.handlers = dict(handlers or {})
        self.give_up = give_up
        self.lease_s = lease_s
        self.max_sleep_s = max_sleep_s
        self.batch = batch
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self._starved = False
        self._wake = asyncio.Event()
        self._sleeping_until = float("inf")
        self._stopped = False
        self._running: set[asyncio.Task[None]] = set()
        self.wakeups = 0
        """How many times the loop woke up (tests check that an idle scheduler sleeps)."""

    @property
    def busy(self) -> int:
        """How many jobs are running now."""
        return len(self._running)

    def register(self, kind: str, handler: JobHandler) -> None:
        """Say which handler runs jobs of `kind` (each kind once, by the service that owns it)."""
        if kind in self.handlers:
            raise ValueError(f"job kind {kind!r} already has a handler")
        self.handlers[kind] = handler

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def schedule(self, job: Job, *, once: tuple[str, int] | None = None) -> bool:
        """Schedule `job`; with `once`, only the first time that claim is taken (see
        `JobQueue.schedule`). Returns whether it was scheduled."""
        if job.kind not in self.handlers:
            raise ValueError(f"no handler for job kind {job.kind!r}")
        scheduled = await self.queue.schedule(job, once=once)
        if scheduled and job.due < self._sleeping_until:
            self._wake.set()
        return scheduled

    async def cancel(self, *job_ids: str, group: str | None = None) -> int:
        return await self.queue.cancel(*job_ids, group=group)

    def stop(self) -> None:
        """Stop looking for work and stop renewing leases, even if a cancellation of the loop
        is swallowed by a library: the jobs this process holds go to another one when their
        leases run out."""
        self._stopped = True
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            while not self._stopped:
                # redis-py (seen with 8.1) can swallow a cancellation that arrives mid-call
                # and return normally; stop anyway.
                raise_if_cancelled()
                self.wakeups += 1
                self._wake.clear()
                try:
                    next_at = await self.run_due(wait=False)
                    raise_if_cancelled()
                except TemporaryError as exc:
                    raise_if_cancelled()
                    log.warning("scheduler could not reach Redis: %s", exc)
                    next_at = None
                now = self._now()
                delay = self.max_sleep_s if next_at is None else next_at - now
                delay = min(max(delay, 0.0), self.max_sleep_s)
                self._sleeping_until = now + delay
                await self._sleep_until(now + delay)
                self._sleeping_until = float("-inf")
        finally:
            self._stopped = True
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _sleep_until(self, deadline: float) -> None:
        # The delay is worked out when the sleep starts, not when it was planned: a clock that
        # jumps in between (a test's manual clock) is then seen at once.
        async def sleep() -> None:
            await self.clock.sleep(max(0.0, deadline - self._now()))

        sleeper = asyncio.ensure_future(sleep())
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def run_due(self, *, wait: bool = True) -> float | None:
        """Claim what is due now and start it; `wait`: also wait for those runs to finish.

        Returns when the queue next needs a look (a due time or a lease expiry), or None.
        """
        started: list[asyncio.Task[None]] = []
        while True:
            free = self.concurrency - len(self._running)
            if free <= 0:
                self._starved = True  # a finishing job wakes the loop
                return None
            now = self._now()
            jobs, next_at = await self.queue.claim(now, self.lease_s, min(self.batch, free))
            for chain in _chains(jobs):
                started.append(self._start_chain(chain, now))
            if len(jobs) < min(self.batch, free):
                break
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)
        return next_at

    def _start_chain(self, chain: list[tuple[Job, str]], now: float) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._run_chain(chain, now))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _run_chain(self, chain: list[tuple[Job, str]], claimed_at: float) -> None:
        """Jobs claimed together for one group, one after another in due order (an incident's
        5-minute checklist is posted before its 15-minute one, even when both are overdue).
        The leases of those still waiting are kept while they wait."""
        waiting = {
            job.id: asyncio.ensure_future(self._keep_lease(job, token)) for job, token in chain[1:]
        }
        try:
            for job, token in chain:
                renewer = waiting.pop(job.id, None)
                if renewer is not None:
                    renewer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewer
                await self._run(job, token, claimed_at)
        finally:
            for renewer in waiting.values():
                renewer.cancel()
            await asyncio.gather(*waiting.values(), return_exceptions=True)

    async def _run(self, job: Job, token: str, claimed_at: float) -> None:
        try:
            await self._attempt(job, token, claimed_at)
        finally:
            if self._starved:
                self._starved = False
                self._wake.set()

    async def _attempt(self, job: Job, token: str, claimed_at: float) -> None:
        handler = self.handlers.get(job.kind)
        renewer = asyncio.ensure_future(self._keep_lease(job, token))
        try:
            if handler is None:
                log.error("dropping job %s: no handler for kind %r", job.id, job.kind)
            else:
                await handler(job, max(0.0, claimed_at - job.due))
        except TemporaryError as exc:
            await self._retry_later(job, token, exc)
            return
        except Exception as exc:
            log.exception("job %s (%s) failed; not retried", job.id, job.kind)
            await self._give_up(job, exc)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        try:
            await self.queue.complete(job, token)
        except TemporaryError as exc:
            log.warning("job %s ran but could not be marked done: %s", job.id, exc)

    async def _retry_later(self, job: Job, token: str, exc: TemporaryError) -> None:
        if job.attempt + 1 >= self.max_attempts:
            log.warning("job %s gave up after %d attempts: %s", job.id, job.attempt + 1, exc)
            await self._give_up(job, exc)
            with contextlib.suppress(TemporaryError):
                await self.queue.complete(job, token)
            return
        delay = exc.retry_after or min(2.0 ** (job.attempt + 1), 300.0)
        log.info("job %s will be retried in %.0f s: %s", job.id, delay, exc)
        with contextlib.suppress(TemporaryError):
            await self.queue.retry(job, token, self._now() + delay)
            self._wake.set()

    async def _give_up(self, job: Job, exc: Exception) -> None:
        if self.give_up is None:
            return
        try:
            await self.give_up(job, exc)
        except Exception:
            log.exception("recording the failure of job %s failed too", job.id)

    async def _keep_lease(self, job: Job, token: str) -> None:
        while True:
            await self.clock.sleep(self.lease_s / 3)
            if self._stopped:
                return  # a stopped scheduler holds nothing: another replica takes the job over
            with contextlib.suppress(TemporaryError):
                await self.queue.renew(job, token, self._now() + self.lease_s)


def _chains(jobs: list[tuple[Job, str]]) -> list[list[tuple[Job, str]]]:
    """Claimed jobs as chains: one per group (in due order), one per job without a group."""
    chains: dict[str, list[tuple[Job, str]]] = {}
    for job, token in sorted(jobs, key=lambda claimed: claimed[0].due):
        chains.setdefault(job.group or f"job:{job.id}", []).append((job, token))
    return list(chains.values())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
