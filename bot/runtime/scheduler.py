"""A durable job scheduler: a job due at T runs once, at T.

Why our own and not a library: see `docs/decisions/scheduler.md`. The jobs, their Redis
queue and the exactly-once claim are `bot.runtime.jobs`; this module runs them:

- No busy polling: the loop sleeps until the next due time (or `max_sleep_s`, which bounds how
  late a job another replica added can be seen), and `schedule()` wakes it at once when it adds
  an earlier job. Each wake-up is one Lua call.
- Late jobs are told how late they are; jobs claimed together for one group run in due order.
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
from collections.abc import Awaitable, Callable, Mapping

from bot.clock import Clock
from bot.errors import TemporaryError
from bot.metrics import Metrics
from bot.runtime.jobs import Job, JobQueue
from bot.store.calls import raise_if_cancelled

__all__ = ["GiveUp", "Job", "JobHandler", "JobQueue", "Scheduler"]

log = logging.getLogger(__name__)


JobHandler = Callable[[Job, float], Awaitable[None]]
"""Runs a job; the second argument is how many seconds after its due time it started."""

GiveUp = Callable[[Job, Exception], Awaitable[None]]


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
        metrics: Metrics | None = None,
    ) -> None:
        self.queue = queue
        self.metrics = metrics or Metrics()
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
        self._draining = False
        self._running: set[asyncio.Task[None]] = set()
        self._held: dict[str, tuple[Job, str]] = {}
        """Claimed jobs not yet finished, by ID, with their lease tokens (released at stop)."""
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

    async def drain(self, grace_s: float) -> bool:
        """Claim nothing more and let the jobs running finish, for up to `grace_s`; False if
        some were still running then (`stop()` cuts them short and hands them over)."""
        self._draining = True
        running = set(self._running)
        if not running:
            return True
        _, pending = await asyncio.wait(running, timeout=grace_s)
        return not pending

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
                    self.metrics.redis_error("scheduler")
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
            await self._release_held()

    async def _release_held(self) -> None:
        """Hand the jobs this scheduler still holds back to the queue (another replica claims
        them at once); one Redis cannot reach keeps its lease, which runs out."""
        for job, token in list(self._held.values()):
            try:
                await self.queue.release(job, token)
            except TemporaryError as exc:
                log.warning("job %s not handed back (%s); its lease runs out", job.id, exc)
        self._held.clear()

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
        next_at: float | None = None
        while not self._draining:  # a draining scheduler claims nothing more
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
        self._held.update((job.id, (job, token)) for job, token in chain)
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
            self._held.pop(job.id, None)
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
                self.metrics.job_failed("unknown", "error")
            else:
                late_by = max(0.0, claimed_at - job.due)
                self.metrics.scheduler_lateness.labels(job.kind).observe(late_by)
                await handler(job, late_by)
        except TemporaryError as exc:
            await self._retry_later(job, token, exc)
            return
        except Exception as exc:
            log.exception("job %s (%s) failed; not retried", job.id, job.kind)
            self.metrics.job_failed(job.kind, "error")
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
            self.metrics.job_failed(job.kind, "gave_up")
            log.warning("job %s gave up after %d attempts: %s", job.id, job.attempt + 1, exc)
            await self._give_up(job, exc)
            with contextlib.suppress(TemporaryError):
                await self.queue.complete(job, token)
            return
        self.metrics.job_failed(job.kind, "retried")
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

    async def report(self, metrics: Metrics) -> None:
        """Set how overdue the most overdue unclaimed job is (a scrape's reader): a scheduler
        that is stuck or starved runs nothing, so its lateness histogram alone would not show it."""
        oldest = await self.queue.oldest_due()
        now = self._now()
        metrics.scheduler_overdue.set(max(0.0, now - oldest) if oldest is not None else 0.0)

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
