"""Who may change an incident: the `incidents:` section applied, and every refusal recorded.

`Authority.require(user, verb)` is called before any change is made (before the ack); a refusal
is a `Denied` whose text names the roles that would allow it and who holds them, and it is
recorded for the operator: on the audit stream, every attempt, and in the log, once per person and
thing per ten minutes (a stuck finger cannot flood it). Never on the incident's timeline or in
its report: those tell what was done to the incident, and a refusal did nothing to it
(docs/decisions/authority.md). A refused attempt changes nothing else.

What the policy grants is never widened by what a Slack button carries: callers pass the
incident as found from the record and the place of the click, not from the button's value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NoReturn

from bot.clock import Clock
from bot.errors import Denied, FirelineError
from bot.policy import messages
from bot.policy.authorizer import Authorizer
from bot.policy.incidents import ANYONE, Verb
from bot.policy.models import Policy
from bot.store.store import Store

log = logging.getLogger(__name__)

REFUSAL_BUCKET_S = 600
"""A person's refusals of one thing (on one incident) reach the log once per this window."""


class Authority:
    def __init__(self, authorizer: Authorizer, store: Store, clock: Clock) -> None:
        self.authorizer = authorizer
        self.store = store
        self.clock = clock

    @property
    def policy(self) -> Policy:
        return self.authorizer.policy

    def roles_for(self, verb: Verb) -> tuple[str, ...]:
        return self.policy.incidents.roles_for(verb)

    async def may(self, user: str, verb: Verb) -> bool:
        allowed = self.roles_for(verb)
        if ANYONE in allowed:
            return True
        return bool(set(await self.authorizer.roles_of(user)) & set(allowed))

    async def require(self, user: str, verb: Verb, incident_id: str | None = None) -> None:
        """Nothing, if `user` may do `verb`; else the refusal, recorded, as `Denied`."""
        if await self.may(user, verb):
            return
        held = await self.authorizer.roles_of(user)
        allowed = self.roles_for(verb)
        reason = messages.denied_verb(verb.doing, verb.value, held, allowed, self.holders(allowed))
        await self.refuse(user, f"incident.{verb.value}", incident_id, reason)

    async def require_commander(self, actor: str, assignee: str, incident_id: str | None) -> None:
        """`assignee` may hold the commander role; else the refusal (recorded as `actor`'s)."""
        if await self.may(assignee, Verb.COMMAND):
            return
        held = await self.authorizer.roles_of(assignee)
        allowed = self.roles_for(Verb.COMMAND)
        reason = messages.cannot_command(assignee, held, allowed, self.holders(allowed))
        await self.refuse(actor, "incident.command", incident_id, reason)

    def holders(self, roles: Iterable[str]) -> str:
        roles = list(roles)
        return "everyone" if ANYONE in roles else self.authorizer.holders(roles)

    async def refuse(self, user: str, what: str, incident_id: str | None, reason: str) -> NoReturn:
        """Record that `user` was refused `what` (the audit stream, the log), then raise it."""
        await self.record_refusal(user, what, incident_id, reason)
        raise Denied(reason)

    async def record_refusal(
        self, user: str, what: str, incident_id: str | None, reason: str
    ) -> None:
        now = self.clock.now()
        entry = {
            "at": now.isoformat(),
            "user": user,
            "action": what,
            "target": incident_id or "-",
            "outcome": "denied",
            "duration_ms": "0",
            "incident": incident_id or "",
            "detail": reason[:500],
        }
        try:
            await self.store.audit(entry)
            bucket = int(now.timestamp()) // REFUSAL_BUCKET_S
            key = f"{user}:{what}:{incident_id or '-'}:{bucket}"
            if await self.store.claim("refusal-logged", key, ttl=2 * REFUSAL_BUCKET_S):
                log.warning("the policy refused %s to %s (on %s)", what, user, incident_id or "-")
        except FirelineError:
            # The person is still told; the gap is in the log for the operator.
            log.exception("could not record the refusal of %s to %s", what, user)
