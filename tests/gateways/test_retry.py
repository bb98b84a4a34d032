"""The gateways' one retry policy: only temporary errors are tried again, a bounded number of
times, and the last error comes out as it was."""

from __future__ import annotations

import asyncio

import pytest
from tenacity import RetryCallState

from bot.errors import (
    ConcurrentModification,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    SlackRejected,
    TemporaryError,
    Throttled,
    Unavailable,
)
from bot.gateways.retry import MAX_WAIT_S, is_temporary, policy, with_retries


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (Unavailable("no answer"), True),
        (Throttled("slow down", retry_after=1.0), True),
        (TemporaryError("maybe later"), True),
        (NotFound("no such pod"), False),
        (Forbidden("RBAC"), False),
        (Conflict("changed"), False),
        (SlackRejected("chat.postMessage", "channel_not_found"), False),
        (ConcurrentModification("kept changing"), False),
        (ConfigurationError("bad setting"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_temporary_errors_are_retried(error: Exception, temporary: bool) -> None:
    assert is_temporary(error) is temporary


async def test_temporary_errors_are_tried_again_until_an_answer() -> None:
    call = Flaky(Unavailable("502"), Throttled("429"))
    assert await with_retries(call, attempts=3, backoff_s=0) == "answer"
    assert call.calls == 3


async def test_the_last_temporary_error_comes_out_as_it_was() -> None:
    last = Unavailable("still down")
    call = Flaky(Unavailable("down"), last, Unavailable("never reached"))
    with pytest.raises(Unavailable) as raised:
        await with_retries(call, attempts=2, backoff_s=0)
    assert raised.value is last and call.calls == 2


@pytest.mark.parametrize("error", [NotFound("gone"), Forbidden("RBAC"), ValueError("bug")])
async def test_anything_else_is_raised_at_once(error: Exception) -> None:
    call = Flaky(error)
    with pytest.raises(type(error)):
        await with_retries(call, attempts=5, backoff_s=0)
    assert call.calls == 1


def test_pauses_double_from_the_backoff_up_to_a_ceiling() -> None:
    retrying = policy(attempts=10, backoff_s=0.2)
    waits = []
    for attempt in range(1, 7):
        state = RetryCallState(retry_object=retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        waits.append(retrying.wait(state))
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.6, MAX_WAIT_S, MAX_WAIT_S])


async def test_the_pauses_between_attempts_follow_the_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt is made outside tenacity (cheaper); the pauses after it are still the
    policy's: the backoff, then twice that, … up to the ceiling."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", pause)
    call = Flaky(*(Unavailable(f"down {n}") for n in range(6)))
    assert await with_retries(call, attempts=7, backoff_s=0.2) == "answer"
    assert call.calls == 7
    assert pauses == pytest.approx([0.2, 0.4, 0.8, 1.6, MAX_WAIT_S, MAX_WAIT_S])


async def test_one_attempt_is_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", pause)
    call = Flaky(Unavailable("down"))
    with pytest.raises(Unavailable):
        await with_retries(call, attempts=1, backoff_s=0.2)
    assert call.calls == 1 and pauses == []
