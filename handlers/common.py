"""Helpers shared by the Slack listeners: bounded pre-ack work and user-facing error text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from bot.errors import FirelineError, SlackRejected, Unavailable, Unconfirmed, UserError
from handlers import messages

log = logging.getLogger(__name__)
T = TypeVar("T")

# Work done before the ack must leave time for the ack itself inside Slack's 3 seconds.
PRE_ACK_BUDGET_S = 2.0


class TooSlow(FirelineError):
    """Pre-ack work did not finish in time and was stopped: what it had sent may have taken
    effect, so the person is told it could not be confirmed, not that it did not happen."""


async def before_ack(work: Awaitable[T]) -> T:
    # asyncio.timeout, not wait_for: no extra task, so no extra trip through a busy loop.
    try:
        async with asyncio.timeout(PRE_ACK_BUDGET_S):
            return await work
    except TimeoutError:
        raise TooSlow("Redis did not answer in time") from None


def explain(exc: Exception, what: str) -> str:
    """The ephemeral sentence for a failure: the user's mistake, what could not be confirmed
    (and how to check), or what did not happen. "Did not happen" only when it is certain: a
    Redis call whose answer was lost after sending it (`Unavailable.sent`), or work stopped
    midway for taking too long, may have taken effect."""
    if isinstance(exc, UserError | Unconfirmed):
        return str(exc)
    if isinstance(exc, SlackRejected):
        return messages.slack_refused(what, exc.code)
    if isinstance(exc, TooSlow) or (isinstance(exc, Unavailable) and exc.sent):
        return messages.not_confirmed(what)
    if not isinstance(exc, FirelineError):
        log.exception("unexpected error during %s", what, exc_info=exc)
    return messages.failed(what)
