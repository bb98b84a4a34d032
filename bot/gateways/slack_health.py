"""Fireline's own access to Slack, watched while it runs.

Some of Slack's refusals are not about what a person asked but about Fireline itself: it was
removed from a channel it is configured to write in (`not_in_channel`, `channel_not_found` on
the broadcast channel or an alert channel), its token was revoked or the app uninstalled
(`token_revoked`, `invalid_auth`, `account_inactive`), or it lacks a scope (`missing_scope`).
Each is logged at ERROR, counted (`fireline_slack_access_errors_total`), fails `/readyz` while it
lasts, and is told once in the broadcast channel when Fireline can still post there (not with a
dead token, not when the broadcast channel is the one lost). "Once" holds across replicas: a
claim in Redis per problem, released when the problem clears, so a later recurrence is told.

A problem lasts until Slack shows it is gone: any call succeeding proves the token good; a write
to the channel succeeding, or `recheck()` (run by `/readyz`, at most every `recheck_s`) finding
Fireline a member again (`conversations.info`), proves the channel back; the same method
succeeding proves the scope granted. A missing scope has no probe: adding one means
reinstalling the app, which is followed by a restart.

Not being a member of the broadcast channel is not a loss: Fireline joins it before posting
there (a failed join is one). Incident channels are not watched: people archive them when an
incident is over, and a reply there that fails is told to the person who asked. Problems are
per replica (each sees what its own calls meet), like `/readyz` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.clock import Clock
from bot.errors import FirelineError, SlackRejected
from bot.gateways import messages
from bot.metrics import Metrics
from bot.store.store import Store

log = logging.getLogger(__name__)

TOKEN_CODES = frozenset({"token_revoked", "invalid_auth", "account_inactive"})
CHANNEL_CODES = frozenset({"not_in_channel", "channel_not_found"})
SCOPE_CODES = frozenset({"missing_scope"})
CHANNEL_WRITES = frozenset(
    {"chat.postMessage", "chat.update", "pins.add", "conversations.setTopic", "conversations.join"}
)
"""A success of one of these in a channel proves Fireline a member of it."""
RECHECK_S = 30.0
RECHECK_TIMEOUT_S = 1.5  # inside Kubernetes' 2 s probe timeout
TOLD_TTL_S = 7 * 24 * 3600
CLAIM_SCOPE = "slack-access"


@dataclass(frozen=True)
class Problem:
    """One way Fireline lost access: Slack's `reason` code about `subject` (a channel ID, a
    method, or `token`)."""

    reason: str
    subject: str
    method: str

    @property
    def key(self) -> str:
        return f"{self.reason}:{self.subject}"

    @property
    def kind(self) -> str:
        if self.reason in TOKEN_CODES:
            return "token"
        return "channel" if self.reason in CHANNEL_CODES else "scope"


class Prober(Protocol):
    """What `recheck()` and the telling need of the Slack gateway."""

    async def auth_test(self) -> dict[str, Any]: ...

    async def conversation_info(self, channel: str) -> dict[str, Any]: ...

    async def post_message(self, channel: str, text: str) -> str: ...

    async def join(self, channel: str) -> None: ...


class SlackHealth:
    def __init__(
        self,
        clock: Clock,
        metrics: Metrics,
        *,
        watched: Iterable[str | None] = (),
        broadcast: str | None = None,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.clock = clock
        self.metrics = metrics
        self.watched = frozenset(c for c in watched if c)
        self.broadcast = broadcast
        self.recheck_s = recheck_s
        self.problems: dict[str, Problem] = {}
        self.slack: Prober | None = None
        self.store: Store | None = None
        self._rechecked = float("-inf")
        self._telling: set[asyncio.Task[None]] = set()
        for reason in TOKEN_CODES | CHANNEL_CODES | SCOPE_CODES:
            self.metrics.slack_access_problems.labels(reason).set(0)

    def tell_through(self, slack: Prober, store: Store) -> None:
        """How problems are told (the gateway itself) and claimed once (Redis)."""
        self.slack = slack
        self.store = store

    @property
    def ok(self) -> bool:
        return not self.problems

    # --- what the gateway reports ------------------------------------------------------------

    def refused(self, method: str, code: str, channel: str | None) -> None:
        """Slack refused `method` with `code`; a problem if it is about Fireline's access."""
        if code in TOKEN_CODES:
            problem = Problem(code, "token", method)
        elif code in SCOPE_CODES:
            problem = Problem(code, method, method)
        elif channel not in self.watched:
            return
        elif method == "conversations.join":
            problem = Problem("not_in_channel", channel, method)  # and cannot get back in
        elif code == "not_in_channel" and channel == self.broadcast:
            return  # Fireline joins the broadcast channel itself (`post_in_broadcast`)
        elif code in CHANNEL_CODES:
            problem = Problem(code, channel, method)
        else:
            return
        self.metrics.slack_access_errors.labels(code).inc()
        if not (problem.kind == "token" and method == "auth.test"):
            # A refused token at auth.test is said by the app's Slack link, once, naming the
            # setting to fix (and at start-up, as the one line before it stops).
            log.error("%s", messages.slack_access_log(problem.reason, problem.subject, method))
        if problem.key in self.problems:
            return
        self.problems[problem.key] = problem
        self._rechecked = self.clock.now().timestamp()  # just seen: no need to ask again yet
        self._count()
        if self.slack is not None and self._can_tell(problem):
            task = asyncio.ensure_future(self._tell(problem))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    def succeeded(self, method: str, channel: str | None) -> None:
        """A call went through: clear what it disproves."""
        if not self.problems:
            return
        for key, problem in list(self.problems.items()):
            if (
                problem.kind == "token"
                or (problem.kind == "scope" and problem.subject == method)
                or (
                    problem.kind == "channel"
                    and channel == problem.subject
                    and method in CHANNEL_WRITES
                )
            ):
                self._clear(key)

    # --- /readyz -----------------------------------------------------------------------------

    async def recheck(self) -> bool:
        """Ask Slack whether the open problems are still there (bounded in time and rate)."""
        now = self.clock.now().timestamp()
        if not self.problems or self.slack is None or now - self._rechecked < self.recheck_s:
            return self.ok
        self._rechecked = now
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECHECK_TIMEOUT_S):
                await self._probe(self.slack)
        return self.ok

    async def _probe(self, slack: Prober) -> None:
        for key, problem in list(self.problems.items()):
            try:
                if problem.kind == "token":
                    await slack.auth_test()  # its success clears token problems
                elif problem.kind == "channel":
                    info = await slack.conversation_info(problem.subject)
                    if info.get("is_member") and not info.get("is_archived"):
                        self._clear(key)
            except FirelineError:
                continue  # still refused, or Slack unreachable: the problem stays

    async def close(self) -> None:
        for task in list(self._telling):
            task.cancel()
        await asyncio.gather(*self._telling, return_exceptions=True)

    # --- inside -----------------------------------------------------------------------------

    def _clear(self, key: str) -> None:
        problem = self.problems.pop(key, None)
        if problem is None:
            return
        log.warning("%s", messages.slack_access_back_log(problem.reason, problem.subject))
        self._count()
        if self.store is not None:
            task = asyncio.ensure_future(self._forget_told(problem))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    def _count(self) -> None:
        by_reason: dict[str, int] = {}
        for problem in self.problems.values():
            by_reason[problem.reason] = by_reason.get(problem.reason, 0) + 1
        for reason in TOKEN_CODES | CHANNEL_CODES | SCOPE_CODES:
            self.metrics.slack_access_problems.labels(reason).set(by_reason.get(reason, 0))

    def _can_tell(self, problem: Problem) -> bool:
        """Telling needs a working token and a broadcast channel that is not the one lost."""
        return (
            self.broadcast is not None
            and problem.kind != "token"
            and problem.subject != self.broadcast
            and not any(p.kind == "token" for p in self.problems.values())
        )

    async def _tell(self, problem: Problem) -> None:
        assert self.slack is not None and self.broadcast is not None
        try:
            if self.store is not None and not await self.store.claim(
                CLAIM_SCOPE, problem.key, TOLD_TTL_S
            ):
                return  # another replica (or an earlier run of this one) told it
            text = messages.slack_access_lost(problem.reason, problem.subject, problem.method)
            try:
                await self.slack.post_message(self.broadcast, text)
            except SlackRejected as exc:
                if exc.code != "not_in_channel":
                    raise
                await self.slack.join(self.broadcast)  # as the incident announcements do
                await self.slack.post_message(self.broadcast, text)
        except FirelineError as exc:
            log.warning("could not tell the broadcast channel about %s: %s", problem.key, exc)

    async def _forget_told(self, problem: Problem) -> None:
        assert self.store is not None
        with contextlib.suppress(FirelineError):
            await self.store.release_claim(CLAIM_SCOPE, problem.key)
