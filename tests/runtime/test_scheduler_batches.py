"""The scheduler's batch path and its stopping: many jobs due at once share round trips, yet
each runs exactly once across replicas; a run cut short is never recorded as done; stopping
never hangs on a job that ignores its cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.runtime.scheduler import Job, JobHandler, JobQueue, Scheduler
from bot.store.server import RedisHandle
from bot.store.store import Store
from tests.clock import ManualClock
from tests.conftest import REDIS_URL
from tests.harness import eventually


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(redis_handle: RedisHandle, prefix: str) -> JobQueue:
    return JobQueue(Store(redis_handle.client, prefix=prefix))


@pytest.fixture
async def other_queue(queue: JobQueue) -> AsyncIterator[JobQueue]:
    """The same jobs through a second connection, as a second replica's process has."""
    client = Redis.from_url(REDIS_URL)
    yield JobQueue(Store(client, prefix=queue.keys.prefix))
    await client.aclose()


def start(scheduler: Scheduler) -> asyncio.Task[None]:
    return asyncio.ensure_future(scheduler.run_forever())


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancel a scheduler's loop as the app does at shutdown, and wait until it has returned."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def left_in(queue: JobQueue) -> tuple[int, int]:
    """(jobs due, jobs leased) in Redis."""
    keys = queue.keys
    return await queue.redis.zcard(keys.jobs_due), await queue.redis.zcard(keys.jobs_leased)


async def test_two_replicas_claiming_a_thousand_due_jobs_run_each_exactly_once(
    queue: JobQueue, other_queue: JobQueue, clock: ManualClock
) -> None:
    runs: Counter[str] = Counter()
    by: Counter[str] = Counter()

    def handler(replica: str) -> JobHandler:
        async def run(job: Job, late_by: float) -> None:
            await asyncio.sleep(0)  # a real job yields: the two replicas interleave
            runs[job.id] += 1
            by[replica] += 1

        return run

    now = clock.now().timestamp()
    for i in range(1000):  # all due at the same instant, some in groups of ten
        group = f"INC-{i // 10}" if i % 3 == 0 else None
        await queue.schedule(Job(id=f"j{i}", kind="t", due=now + 5, group=group))
    a = Scheduler(queue, clock, {"t": handler("a")})
    b = Scheduler(other_queue, clock, {"t": handler("b")})
    tasks = [start(a), start(b)]
    clock.advance(5)
    await eventually(lambda: len(runs) == 1000, 60.0, "every job run")
    await a.settled()
    await b.settled()
    assert await left_in(queue) == (0, 0)  # each completed, none left to run again
    for task in tasks:
        await stopped(task)
    assert set(runs.values()) == {1}
    assert by["a"] and by["b"]  # both replicas took part
    # …and their completions shared round trips (a Redis call each would be 1,000).
    assert a.queue._completing.calls + b.queue._completing.calls < 1000


async def test_a_batch_claimed_by_a_replica_that_died_runs_once_after_its_leases(
    queue: JobQueue, other_queue: JobQueue, clock: ManualClock
) -> None:
    runs: Counter[str] = Counter()

    async def handler(job: Job, late_by: float) -> None:
        runs[job.id] += 1

    now = clock.now().timestamp()
    for i in range(200):
        await queue.schedule(Job(id=f"d{i}", kind="t", due=now + 1, group=f"INC-{i % 7}"))
    clock.advance(1)
    claimed, _ = await queue.claim(clock.now().timestamp(), lease_s=60, limit=150)
    assert len(claimed) == 150  # …and this replica dies with the batch claimed

    survivor = Scheduler(other_queue, clock, {"t": handler}, lease_s=60)
    task = start(survivor)
    await eventually(lambda: len(runs) == 50, 10.0, "the unclaimed jobs")
    await survivor.settled()
    assert await left_in(queue) == (0, 150)
    clock.advance(61)
    await eventually(lambda: len(runs) == 200, 10.0, "the dead replica's jobs")
    await survivor.settled()
    await stopped(task)
    assert set(runs.values()) == {1}
    assert await left_in(queue) == (0, 0)


@pytest.mark.parametrize("swallows", [False, True], ids=["cancelled", "swallowed"])
async def test_a_run_cut_short_by_shutdown_is_not_done_and_another_replica_runs_it(
    queue: JobQueue, other_queue: JobQueue, clock: ManualClock, swallows: bool
) -> None:
    """The bot stops while a job runs: whether the cancellation is raised or a library
    swallows it (redis-py can), the run is not recorded as done; it is handed back at once,
    and the other replica runs it, without waiting for the lease to run out."""
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(job: Job, late_by: float) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if not swallows:
                raise
            return  # as if a library had turned the cancellation into a normal return
        finished.append("first")

    async def quick(job: Job, late_by: float) -> None:
        finished.append("second")

    await queue.schedule(Job(id="x", kind="t", due=clock.now().timestamp() + 1))
    clock.advance(1)
    first = Scheduler(queue, clock, {"t": slow}, lease_s=600)
    task = start(first)
    await asyncio.wait_for(started.wait(), 10.0)
    await stopped(task)
    assert await left_in(queue) == (1, 0)  # due again, not done, not leased

    second = Scheduler(other_queue, clock, {"t": quick}, lease_s=600)
    task = start(second)
    await eventually(lambda: finished, 10.0)
    await second.settled()
    await stopped(task)
    assert finished == ["second"]
    assert await left_in(queue) == (0, 0)


async def test_stopping_is_bounded_when_a_job_ignores_its_cancellation(
    queue: JobQueue, clock: ManualClock
) -> None:
    """A job stuck in a call that swallows every cancellation does not hold the shutdown:
    `run_forever` returns after `stop_timeout_s`. The stuck job keeps its lease (handing it
    back could run it twice); the job claimed with it and not started is handed back."""
    release = asyncio.Event()
    entered = asyncio.Event()
    runs: Counter[str] = Counter()

    async def stuck(job: Job, late_by: float) -> None:
        runs[job.id] += 1
        entered.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    now = clock.now().timestamp()
    await queue.schedule(Job(id="stuck", kind="t", due=now + 1, group="INC-1"))
    await queue.schedule(Job(id="next", kind="t", due=now + 2, group="INC-1"))
    clock.advance(2)
    scheduler = Scheduler(queue, clock, {"t": stuck}, stop_timeout_s=0.2)
    task = start(scheduler)
    await asyncio.wait_for(entered.wait(), 10.0)
    scheduler.stop()
    await asyncio.wait_for(task, 30.0)  # a hang guard: it returns after ~0.2 s
    try:
        due = await queue.redis.zrange(queue.keys.jobs_due, 0, -1)
        leased = await queue.redis.zrange(queue.keys.jobs_leased, 0, -1)
        assert due == [b"next"] and leased == [b"stuck"]
        assert runs == Counter({"stuck": 1})
    finally:
        release.set()  # let the stuck run end, so the test leaves nothing behind
        await scheduler.settled()


async def test_stop_with_a_grace_lets_running_jobs_finish_and_counts_them_done(
    queue: JobQueue, clock: ManualClock
) -> None:
    proceed = asyncio.Event()
    entered = asyncio.Event()
    finished: list[str] = []

    async def handler(job: Job, late_by: float) -> None:
        entered.set()
        await proceed.wait()
        finished.append(job.id)

    await queue.schedule(Job(id="g", kind="t", due=clock.now().timestamp() + 1))
    clock.advance(1)
    scheduler = Scheduler(queue, clock, {"t": handler})
    task = start(scheduler)
    await asyncio.wait_for(entered.wait(), 10.0)
    scheduler.stop(timeout=60.0)
    await asyncio.sleep(0.05)  # what would be ample time to cut it short, were it to be
    assert not task.done() and not finished
    proceed.set()
    await asyncio.wait_for(task, 30.0)
    assert finished == ["g"]
    assert await left_in(queue) == (0, 0)
