"""A durable job scheduler: a job due at T runs once, at T.

Why our own and not a library: see `docs/decisions/scheduler.md`. The jobs, their Redis
queue and the exactly-once claim are `bot.runtime.jobs`; this module runs them:

- No busy polling: the loop sleeps until the next due time (or `max_sleep_s`, which bounds how
  late a job another replica added can be seen), and `schedule()` wakes it at once when it adds
  an earlier job. Each wake-up is one Lua call.
- Late jobs are told how late they are; jobs claimed together for one group run in due order.
- Round trips are shared: up to `batch` jobs per claim, their completions batched, and the
  leases this replica holds renewed together by one keeper, whatever the number of jobs.
- A run that was cancelled (the bot stopping) is never marked done: whether or not a library
  swallowed the cancellation, the job is handed back (or its lease left to run out).
- `stop(timeout)` lets running jobs finish for `timeout` seconds, then cancels them; waits on
  jobs stuck in a call that ignores its cancellation are bounded by `stop_timeout_s`.
- Time comes from the injected `Clock`; tests move it instead of sleeping.

Job kinds are registered explicitly: the owner passes a mapping kind → handler. A handler
raises `TemporaryError` to be retried with backoff; anything else ends the job, and the owner's
`give_up` is told why (a `Failure`), to record it where people will see it.

This module never talks to Slack and knows nothing about incidents beyond a job's `group`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.clock import Clock
from bot.errors import TemporaryError
from bot.metrics import Metrics
from bot.runtime.jobs import Job, JobQueue
from bot.store.calls import raise_if_cancelled

__all__ = ["Failure", "GiveUp", "Job", "JobHandler", "JobQueue", "Scheduler"]

log = logging.getLogger(__name__)


JobHandler = Callable[[Job, float], Awaitable[None]]
"""Runs a job; the second argument is how many seconds after its due time it started."""

STOP_TIMEOUT_S = 5.0
"""How long stopping waits for cancelled jobs, and for handing back leases (Redis's socket
timeout is 5 s: a call stuck longer is not coming back)."""


@dataclass(frozen=True)
class Failure:
    """Why the scheduler stopped trying a job: what its owner tells people."""

    error: Exception
    attempts: int
    unexpected: bool
    """Not a `TemporaryError`: a bug or an answer nobody planned for, logged with `ref`."""
    ref: str
    """The reference the log line carries (`job failed [ref]`), for people to quote."""


GiveUp = Callable[[Job, Failure], Awaitable[None]]


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
        stop_timeout_s: float = STOP_TIMEOUT_S,
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
        self.stop_timeout_s = stop_timeout_s
        self._starved = False
        self._wake = asyncio.Event()
        self._sleeping_until = float("inf")
        self._stopped = False
        self._grace_s = 0.0
        self._running: set[asyncio.Task[None]] = set()
        self._held: dict[str, tuple[Job, str]] = {}
        """Jobs this replica claimed and has not finished with, by ID: their leases are kept."""
        self._in_handler: set[str] = set()
        self._keeper: asyncio.Task[None] | None = None
        self.wakeups = 0
        """How many times the loop woke up (tests check that an idle scheduler sleeps)."""

    @property
    def busy(self) -> int:
        """How many jobs are running now."""
        return len(self._running)

    async def settled(self) -> None:
        """Wait until no job this scheduler started is still running."""
        while self._running:
            await asyncio.wait(set(self._running))

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
        if scheduled:
            self.added(job)
        return scheduled

    def added(self, job: Job) -> None:
        """`job` was added by its owner's own transaction (`JobQueue.schedule_in`): wake the
        loop if it is due before the loop would next look."""
        if job.due < self._sleeping_until:
            self._wake.set()

    async def cancel(self, *job_ids: str, group: str | None = None) -> int:
        return await self.queue.cancel(*job_ids, group=group)

    def stop(self, timeout: float = 0.0) -> None:
        """Stop claiming jobs; `run_forever` then returns once the jobs running have finished,
        or after `timeout` seconds, when those left are cancelled (and waited for at most
        `stop_timeout_s`: a library may swallow the cancellation). Every job this replica
        claimed and did not finish is handed back, due at once, so another replica takes it
        over without waiting for the lease; a cancelled run is never marked done. Also holds
        if a cancellation of the loop is swallowed by a library."""
        self._grace_s = max(0.0, timeout)
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
            await self._wind_down()

    async def _wind_down(self) -> None:
        """Let running jobs finish within the grace, cancel the rest, hand back the leases of
        what did not finish. Every wait is bounded in real time (not the injected clock: a
        stuck call does not wait for a test to move time), and a cancellation of the loop
        meanwhile (the app stopping its tasks) shortens nothing: it is raised at the end."""
        cancelled = False
        running = set(self._running)
        if running and self._grace_s > 0:
            cancelled |= await _within(asyncio.wait(running), self._grace_s)
        running = {task for task in running if not task.done()}
        for task in running:
            task.cancel()
        if running:
            cancelled |= await _within(asyncio.wait(running), self.stop_timeout_s)
            if stuck := sum(1 for task in running if not task.done()):
                log.warning("%d scheduled jobs did not stop when cancelled", stuck)
        # A job still inside its handler (stuck in a call) keeps its lease until it runs out:
        # handing it back could run it twice. The others go back now.
        back = [held for job_id, held in self._held.items() if job_id not in self._in_handler]
        if back:
            release = asyncio.ensure_future(self.queue.release(back))
            cancelled |= await _within(release, self.stop_timeout_s)
            if not release.done() or release.cancelled() or release.exception() is not None:
                log.warning("could not hand back %d jobs; their leases will run out", len(back))
        if self._keeper is not None:
            self._keeper.cancel()
        if cancelled:
            raise asyncio.CancelledError

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
        for job, token in chain:
            self._held[job.id] = (job, token)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.ensure_future(self._keep_leases())
        task = asyncio.ensure_future(self._run_chain(chain, now))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _run_chain(self, chain: list[tuple[Job, str]], claimed_at: float) -> None:
        """Jobs claimed together for one group, one after another in due order (an incident's
        5-minute checklist is posted before its 15-minute one, even when both are overdue).
        The leases of those still waiting are kept while they wait."""
        try:
            for job, token in chain:
                await self._attempt(job, token, claimed_at)
        except asyncio.CancelledError:
            if not self._stopped:  # its caller gave up on it (`run_due`), the bot goes on:
                for job, _ in chain:  # its leases run out, and the jobs are due again
                    self._let_go(job)
            raise
        finally:
            if self._starved:
                self._starved = False
                self._wake.set()

    async def _attempt(self, job: Job, token: str, claimed_at: float) -> None:
        handler = self.handlers.get(job.kind)
        error: Exception | None = None
        self._in_handler.add(job.id)
        try:
            if handler is None:
                log.error("dropping job %s: no handler for kind %r", job.id, job.kind)
                self.metrics.job_failed("unknown", "error")
            else:
                late_by = max(0.0, claimed_at - job.due)
                self.metrics.scheduler_lateness.labels(job.kind).observe(late_by)
                await handler(job, late_by)
        except Exception as exc:
            error = exc
        finally:
            self._in_handler.discard(job.id)
        # Cancelled (the bot stopping), even if a library turned the cancellation into an
        # error or swallowed it: the run may not have finished, so it is not done. The job
        # stays held: it is handed back when the scheduler stops.
        raise_if_cancelled()
        if isinstance(error, TemporaryError):
            await self._retry_later(job, token, error)
        else:
            if error is not None:
                await self._failed(job, error)
            try:
                await self.queue.complete(job, token)
            except TemporaryError as exc:
                log.warning("job %s ran but could not be marked done: %s", job.id, exc)
        self._let_go(job)

    def _let_go(self, job: Job) -> None:
        self._held.pop(job.id, None)
        if not self._held and self._keeper is not None:
            self._keeper.cancel()  # nothing to keep: no timer left sleeping
            self._keeper = None

    async def _failed(self, job: Job, error: Exception) -> None:
        ref = secrets.token_hex(4)
        log.error("job %s (%s) failed [%s]; not retried", job.id, job.kind, ref, exc_info=error)
        self.metrics.job_failed(job.kind, "error")
        await self._give_up(job, Failure(error, job.attempt + 1, unexpected=True, ref=ref))

    async def _retry_later(self, job: Job, token: str, exc: TemporaryError) -> None:
        if job.attempt + 1 >= self.max_attempts:
            self.metrics.job_failed(job.kind, "gave_up")
            ref = secrets.token_hex(4)
            log.warning(
                "job %s gave up after %d attempts [%s]: %s", job.id, job.attempt + 1, ref, exc
            )
            await self._give_up(job, Failure(exc, job.attempt + 1, unexpected=False, ref=ref))
            with contextlib.suppress(TemporaryError):
                await self.queue.complete(job, token)
            return
        self.metrics.job_failed(job.kind, "retried")
        delay = exc.retry_after or min(2.0 ** (job.attempt + 1), 300.0)
        log.info("job %s will be retried in %.0f s: %s", job.id, delay, exc)
        with contextlib.suppress(TemporaryError):
            await self.queue.retry(job, token, self._now() + delay)
            self._wake.set()

    async def _give_up(self, job: Job, failure: Failure) -> None:
        if self.give_up is None:
            return
        try:
            await self.give_up(job, failure)
        except Exception:
            log.exception("recording the failure of job %s failed too", job.id)

    async def report(self, metrics: Metrics) -> None:
        """Set how overdue the most overdue unclaimed job is (a scrape's reader): a scheduler
        that is stuck or starved runs nothing, so its lateness histogram alone would not show it."""
        oldest = await self.queue.oldest_due()
        now = self._now()
        metrics.scheduler_overdue.set(max(0.0, now - oldest) if oldest is not None else 0.0)

    async def _keep_leases(self) -> None:
        """Renew every lease this replica holds, in one pipeline, every third of a lease, for
        as long as it holds any. A stopped scheduler renews nothing: what it still holds goes
        to another replica when the leases run out."""
        while self._held and not self._stopped:
            await self.clock.sleep(self.lease_s / 3)
            if self._stopped:
                return
            held = list(self._held.values())
            with contextlib.suppress(TemporaryError):
                await self.queue.renew(held, self._now() + self.lease_s)


async def _within(work: Awaitable[object], limit_s: float) -> bool:
    """Wait for `work` at most `limit_s` seconds (then cancel it and leave it behind: a
    redis-py call can swallow its cancellation); whether this wait was itself cancelled."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    cancelled = False
    while not task.done() and (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait({task}, timeout=left)
        except asyncio.CancelledError:
            cancelled = True
    if not task.done():
        task.cancel()
    return cancelled


def _chains(jobs: list[tuple[Job, str]]) -> list[list[tuple[Job, str]]]:
    """Claimed jobs as chains: one per group (in due order), one per job without a group."""
    chains: dict[str, list[tuple[Job, str]]] = {}
    for job, token in sorted(jobs, key=lambda claimed: claimed[0].due):
        chains.setdefault(job.group or f"job:{job.id}", []).append((job, token))
    return list(chains.values())
