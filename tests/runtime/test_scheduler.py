"""The durable scheduler: on time, once across replicas and restarts, and asleep when idle."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from bot.clock import SystemClock
from bot.errors import Throttled
from bot.runtime.scheduler import Job, JobQueue, Scheduler
from bot.store.server import RedisHandle
from bot.store.store import Store
from tests.clock import ManualClock
from tests.conftest import REDIS_URL
from tests.harness import eventually


class Recorder:
    """A job handler that counts runs and remembers how late each started."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.late: dict[str, float] = {}

    async def __call__(self, job: Job, late_by: float) -> None:
        self.runs[job.id] += 1
        self.late[job.id] = late_by


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(redis_handle: RedisHandle, prefix: str) -> JobQueue:
    return JobQueue(Store(redis_handle.client, prefix=prefix))


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[Scheduler]:
    task = asyncio.ensure_future(scheduler.run_forever())
    await asyncio.sleep(0.01)
    try:
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def job(clock: ManualClock, job_id: str, in_s: float, group: str | None = "INC-1") -> Job:
    return Job(id=job_id, kind="t", due=clock.now().timestamp() + in_s, group=group)


async def quiet(check: Callable[[], bool]) -> None:
    """Give the loop a moment, then assert `check` still holds (nothing ran early)."""
    await asyncio.sleep(0.05)
    assert check()


async def test_a_job_runs_at_its_time_not_before(queue: JobQueue, clock: ManualClock) -> None:
    rec = Recorder()
    async with running(Scheduler(queue, clock, {"t": rec})) as s:
        await s.schedule(job(clock, "a", 300))
        clock.advance(299)
        await quiet(lambda: rec.runs["a"] == 0)
        clock.advance(1)
        await eventually(lambda: rec.runs["a"] == 1)
    assert rec.late["a"] == 0.0


async def test_a_job_due_soon_runs_at_its_time_on_the_real_clock(queue: JobQueue) -> None:
    clock = SystemClock()
    ran_at: list[float] = []

    async def handler(job: Job, late_by: float) -> None:
        ran_at.append(clock.now().timestamp() - job.due)

    # Woken by its own due time, not the 60 s ceiling: a wide margin, so that a busy machine
    # (late by a second or two) still tells the two apart.
    async with running(Scheduler(queue, clock, {"t": handler}, max_sleep_s=60.0)) as s:
        await s.schedule(Job(id="soon", kind="t", due=clock.now().timestamp() + 0.3))
        await eventually(lambda: ran_at, 30.0)
    assert 0.0 <= ran_at[0] < 30.0


async def test_jobs_survive_a_restart_and_missed_ones_run_once_labelled_late(
    queue: JobQueue, clock: ManualClock
) -> None:
    rec = Recorder()
    async with running(Scheduler(queue, clock, {"t": rec})) as s:
        await s.schedule(job(clock, "at-60", 60))
        await s.schedule(job(clock, "at-600", 600))
        await s.schedule(job(clock, "at-9000", 9000))
    clock.advance(700)  # the bot is down while two marks pass

    fresh = JobQueue(Store(queue.redis, prefix=queue.keys.prefix))
    async with running(Scheduler(fresh, clock, {"t": rec})):
        await eventually(lambda: rec.runs["at-60"] and rec.runs["at-600"])
        await quiet(lambda: rec.runs["at-9000"] == 0)
    assert rec.runs == Counter({"at-60": 1, "at-600": 1})
    assert rec.late == {"at-60": 640.0, "at-600": 100.0}
    assert [j.id for j in await fresh.pending("INC-1")] == ["at-9000"]


async def test_two_replicas_run_each_of_many_jobs_exactly_once(
    queue: JobQueue, redis_server: Redis, clock: ManualClock
) -> None:
    rec = Recorder()
    # The second replica has its own connection, as a second process would.
    other = JobQueue(Store(Redis.from_url(REDIS_URL), prefix=queue.keys.prefix))
    a = Scheduler(queue, clock, {"t": rec}, batch=7)
    b = Scheduler(other, clock, {"t": rec}, batch=5)
    for i in range(300):
        await a.schedule(job(clock, f"j{i}", 1 + i % 30, group=None))
    async with running(a), running(b):
        for _ in range(31):
            clock.advance(1)
            await asyncio.sleep(0)
        await eventually(lambda: len(rec.runs) == 300, 30.0)
        await asyncio.sleep(0.05)
    assert set(rec.runs.values()) == {1}
    await other.redis.aclose()


async def test_a_crashed_claimers_job_runs_after_its_lease(
    queue: JobQueue, clock: ManualClock
) -> None:
    rec = Recorder()
    await queue.schedule(job(clock, "x", 10))
    clock.advance(10)
    claimed, _ = await queue.claim(clock.now().timestamp(), lease_s=60, limit=10)
    assert [j.id for j, _ in claimed] == ["x"]  # …and this replica dies here

    async with running(Scheduler(queue, clock, {"t": rec}, lease_s=60)):
        await quiet(lambda: rec.runs["x"] == 0)  # still leased
        clock.advance(61)
        await eventually(lambda: rec.runs["x"] == 1)


async def test_cancel_one_and_cancel_a_group(queue: JobQueue, clock: ManualClock) -> None:
    rec = Recorder()
    async with running(Scheduler(queue, clock, {"t": rec})) as s:
        await s.schedule(job(clock, "one", 10, group="INC-1"))
        await s.schedule(job(clock, "two", 10, group="INC-1"))
        await s.schedule(job(clock, "other", 10, group="INC-2"))
        await s.schedule(job(clock, "solo", 10, group="INC-2"))
        assert await s.cancel("solo") == 1
        assert await s.cancel(group="INC-1") == 2
        clock.advance(20)
        await eventually(lambda: rec.runs["other"] == 1)
        await quiet(lambda: set(rec.runs) == {"other"})


async def test_rescheduling_moves_the_one_job(queue: JobQueue, clock: ManualClock) -> None:
    rec = Recorder()
    async with running(Scheduler(queue, clock, {"t": rec})) as s:
        await s.schedule(job(clock, "r", 60))
        await s.schedule(job(clock, "r", 120))  # same ID: moved, not duplicated
        clock.advance(60)
        await quiet(lambda: rec.runs["r"] == 0)
        await s.schedule(job(clock, "r", 5))  # earlier again: the sleeping loop is woken
        clock.advance(5)
        await eventually(lambda: rec.runs["r"] == 1)
        clock.advance(600)
        await quiet(lambda: rec.runs["r"] == 1)


async def test_scheduled_once_runs_once_even_after_it_finished(
    queue: JobQueue, clock: ManualClock
) -> None:
    """`once`: the claim and the job are one step, so a second schedule (a repeat alert, a
    second replica) neither duplicates the job nor, after it ran, runs it again."""
    rec = Recorder()
    claim = queue.keys.claim("test-once", "group-1")
    async with running(Scheduler(queue, clock, {"t": rec})) as s:
        assert await s.schedule(job(clock, "o", 1), once=(claim, 3600))
        assert not await s.schedule(job(clock, "o", 1), once=(claim, 3600))
        clock.advance(2)
        await eventually(lambda: rec.runs["o"] == 1)
        assert not await s.schedule(job(clock, "o", 1), once=(claim, 3600))
        clock.advance(5)
        await quiet(lambda: rec.runs["o"] == 1)


async def test_temporary_failures_are_retried_with_backoff(
    queue: JobQueue, clock: ManualClock
) -> None:
    attempts: list[float] = []

    async def flaky(job: Job, late_by: float) -> None:
        attempts.append(clock.now().timestamp() - job.due)
        if len(attempts) < 3:
            raise Throttled("slow down", retry_after=30)

    async with running(Scheduler(queue, clock, {"t": flaky})) as s:
        await s.schedule(job(clock, "f", 1))
        clock.advance(1)
        await eventually(lambda: len(attempts) == 1)
        clock.advance(29)
        await quiet(lambda: len(attempts) == 1)
        clock.advance(1)
        await eventually(lambda: len(attempts) == 2)
        clock.advance(30)
        await eventually(lambda: len(attempts) == 3)
        clock.advance(3600)
        await quiet(lambda: len(attempts) == 3)
    assert attempts == [0.0, 30.0, 60.0]


@pytest.mark.slow
async def test_an_idle_scheduler_with_many_future_jobs_sleeps(queue: JobQueue) -> None:
    clock = SystemClock()
    base = clock.now().timestamp() + 86_400
    for i in range(1000):
        await queue.schedule(Job(id=f"far{i}", kind="t", due=base + i, group=None))
    s = Scheduler(queue, clock, {"t": Recorder()}, max_sleep_s=1.0)
    async with running(s):
        before = s.wakeups
        await asyncio.sleep(0.6)
    assert s.wakeups - before <= 1  # one look per max_sleep_s at most, never a spin


async def test_an_idle_scheduler_does_not_wake_while_time_stands_still(
    queue: JobQueue, clock: ManualClock
) -> None:
    await queue.schedule(job(clock, "later", 3600))
    s = Scheduler(queue, clock, {"t": Recorder()})
    async with running(s):
        await asyncio.sleep(0.2)
        assert s.wakeups == 1


async def test_overdue_jobs_of_one_group_run_in_due_order_others_alongside(
    queue: JobQueue, clock: ManualClock
) -> None:
    """After downtime an incident's 5- and 15-minute jobs are both due: the 15 starts only once
    the 5 has finished (however slow), while another incident's job does not wait for them."""
    events: list[str] = []

    async def handler(job: Job, late_by: float) -> None:
        events.append(f"start {job.id}")
        if job.id == "inc1-5":
            await asyncio.sleep(0.2)  # longer than it takes to start the others
        events.append(f"end {job.id}")

    scheduler = Scheduler(queue, clock, {"t": handler})
    for j in (
        job(clock, "inc1-15", 15 * 60),
        job(clock, "inc1-5", 5 * 60),
        job(clock, "inc2-5", 5 * 60, group="INC-2"),
    ):
        await scheduler.schedule(j)
    clock.advance(20 * 60)
    async with running(scheduler):
        await eventually(lambda: "end inc1-15" in events, 5.0)
    assert events.index("start inc1-15") > events.index("end inc1-5")
    assert events.index("end inc2-5") < events.index("end inc1-5")  # not held up by INC-1
    assert Counter(e for e in events if e.startswith("start")) == Counter(
        {"start inc1-5": 1, "start inc1-15": 1, "start inc2-5": 1}
    )


async def test_a_stopping_scheduler_lets_a_job_finish_or_hands_it_over_at_once(
    queue: JobQueue, clock: ManualClock
) -> None:
    """Shutdown: draining claims nothing new and waits for the job running; a job still
    running when the grace ends is cut short and given back to the queue, due as it was, so
    another replica runs it now rather than after its 60-second lease."""
    started, finish = asyncio.Event(), asyncio.Event()
    runs: Counter[str] = Counter()

    async def slow(job: Job, late_by: float) -> None:
        runs[job.id] += 1
        started.set()
        await finish.wait()

    first = Scheduler(queue, clock, {"t": slow})
    task = asyncio.ensure_future(first.run_forever())
    await first.schedule(job(clock, "quick", 0))
    await asyncio.wait_for(started.wait(), 10)
    draining = asyncio.ensure_future(first.drain(10))
    await asyncio.sleep(0)  # the drain has begun
    await first.schedule(job(clock, "later", 0, group=None))
    finish.set()
    assert await draining, "the running job finished within the grace"
    assert runs == {"quick": 1}, "nothing new was claimed while draining"

    finish.clear()
    started.clear()
    second = Scheduler(queue, clock, {"t": slow})
    cut = asyncio.ensure_future(second.run_forever())
    await asyncio.wait_for(started.wait(), 10)  # runs "later"
    assert not await second.drain(0), "still running when the grace ends"
    second.stop()
    await asyncio.wait_for(cut, 10)
    assert await queue.redis.zcard(queue.keys.jobs_leased) == 0
    assert await queue.redis.zscore(queue.keys.jobs_due, "later") is not None, "due again"
    first.stop()
    await asyncio.wait_for(task, 10)
