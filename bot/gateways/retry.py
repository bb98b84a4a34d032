"""The gateways' one retry policy (tenacity): retry only what is temporary, briefly.

What is temporary is said once, by the error tree in `bot.errors`: each gateway maps its
client library's failures onto it, and a `TemporaryError` (`Unavailable`: no answer, a
timeout, a 5xx; `Throttled`: a 429) is the only thing retried. Everything else (a request the
remote refused on purpose, a credential it refused, a conflict, a 404) is raised at once,
since asking again gets the same answer.

The policy: up to `attempts` tries, pausing `backoff_s`, then twice that, … (at most
`MAX_WAIT_S`) in between, then the last error is raised as it was. Retries stay short because
someone is waiting in Slack; the scheduler, not this, retries work that can wait (its own
backoff honours `retry_after`).

Never retried here, because a lost answer may hide a change that was made: the Kubernetes
remediation writes (the caller re-reads instead), Alertmanager silences (claimed in Redis
first), and Slack calls, which slack_sdk's own retry handlers cover (posts excepted:
`SlackGateway.post_message` looks a lost post up instead of posting it twice). The
Kubernetes client's urllib3 retries stay off (`retries=False` in its gateway), so this is the
one retry layer for Kubernetes reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.errors import TemporaryError

DEFAULT_BACKOFF_S = 0.2
MAX_WAIT_S = 2.0

T = TypeVar("T")


def is_temporary(exc: BaseException) -> bool:
    """Whether trying again may succeed: the one definition the gateways retry by."""
    return isinstance(exc, TemporaryError)


def policy(*, attempts: int, backoff_s: float = DEFAULT_BACKOFF_S) -> AsyncRetrying:
    """The policy as tenacity runs it (`with_retries` is how the gateways use it)."""
    return AsyncRetrying(
        retry=retry_if_exception(is_temporary),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=MAX_WAIT_S),
        reraise=True,
    )


def first_pause(backoff_s: float) -> float:
    """The pause after the first failed attempt (the policy's first wait)."""
    return min(backoff_s, MAX_WAIT_S)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, attempts: int, backoff_s: float = DEFAULT_BACKOFF_S
) -> T:
    """`call()`, tried again on a temporary error up to `attempts` times in all.

    The first attempt is made directly: nearly every call answers at once, and tenacity's
    bookkeeping costs ~65 µs of CPU an attempt (15 reads a diagnosis). From the second on,
    tenacity runs the rest of the same schedule: one pause of `backoff_s`, then the policy
    for the attempts left, its pauses starting at twice that."""
    try:
        return await call()
    except Exception as exc:
        if attempts <= 1 or not is_temporary(exc):
            raise
    await asyncio.sleep(first_pause(backoff_s))
    async for attempt in policy(attempts=attempts - 1, backoff_s=backoff_s * 2):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover: reraise=True raises the last error
