"""The policy's `incidents:` section: who may change an incident, verb by verb.

Every change a person makes to an incident is one of these verbs, and each verb names the roles
whose holders may do it. `anyone` (a word, not a role) opens a verb to people in no role at all.
A person in no role can do none of them unless a verb says `anyone` (or the policy gives everyone
a `default_role`).

- `declare`: start an incident (the command, the form, "Declare incident" on an alert).
- `acknowledge`: say someone is on it (an incident, or an alert group).
- `update`: status updates, notes, follow-ups, 📌 pins, checklist answers, snoozing reminders,
  uploading the report.
- `severity`: change the severity (either way; approvals look at the most severe it has been).
- `assign`: set anyone's incident role (commander, comms, scribe), one's own included, except
  taking command oneself, which is `command` alone.
- `command`: who may *hold* the commander role: take command, be assigned it, or be the
  commander of an incident they declare (a reporter who may not is left without the role).
- `resolve`: mark mitigated, resolve.

Holding the commander role gives no other power: approving a remediation needs one of the
action's `approve_roles` (`bot.policy.remediation`). There is no reopen: a resolved incident is
final, and the problem coming back is a new incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

ANYONE = "anyone"
"""Opens a verb to everyone in the workspace, people in no role included."""


class Verb(StrEnum):
    DECLARE = "declare"
    ACKNOWLEDGE = "acknowledge"
    UPDATE = "update"
    SEVERITY = "severity"
    ASSIGN = "assign"
    COMMAND = "command"
    RESOLVE = "resolve"

    @property
    def doing(self) -> str:
        """The verb as a refusal says it: "🚫 {doing} needs …"."""
        return VERB_DOING[self]


VERB_DOING = {
    Verb.DECLARE: "Declaring an incident",
    Verb.ACKNOWLEDGE: "Acknowledging",
    Verb.UPDATE: "Adding to the incident's record (updates, notes, follow-ups, checklists)",
    Verb.SEVERITY: "Changing the severity",
    Verb.ASSIGN: "Giving someone an incident role",
    Verb.COMMAND: "Holding the commander role",
    Verb.RESOLVE: "Marking mitigated or resolving",
}

STAFF = ("responder", "commander", "admin")
LEADS = ("commander", "admin")


class IncidentPolicy(BaseModel):
    """Verb → the roles whose holders may do it. Unset: the defaults below, which give the
    lifecycle to responders, commanders and admins, declaring to viewers too, and giving
    others a role to commanders and admins."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    declare: tuple[str, ...] = ("viewer", *STAFF)
    """Who may declare an incident."""

    acknowledge: tuple[str, ...] = STAFF
    """Who may acknowledge an incident or an alert group."""

    update: tuple[str, ...] = STAFF
    """Who may post updates, notes, follow-ups, pins, checklist answers and snoozes."""

    severity: tuple[str, ...] = STAFF
    """Who may change an incident's severity."""

    assign: tuple[str, ...] = LEADS
    """Who may set an incident role (commander, comms, scribe) for anyone."""

    command: tuple[str, ...] = STAFF
    """Who may hold the commander role (take command, be assigned it, declare and keep it)."""

    resolve: tuple[str, ...] = STAFF
    """Who may mark an incident mitigated or resolve it."""

    @field_validator("*")
    @classmethod
    def _no_duplicates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"{list(value)!r} names a role twice")
        return value

    def roles_for(self, verb: Verb) -> tuple[str, ...]:
        roles: tuple[str, ...] = getattr(self, verb.value)
        return roles

    def role_errors(self, roles: Mapping[str, object]) -> list[str]:
        """What in this section names a role the policy does not define."""
        if ANYONE in roles:
            return [f"roles.{ANYONE}: {ANYONE!r} is reserved (incidents: opens a verb to all)"]
        return [
            f"incidents.{verb.value}: {role!r} is not one of the roles "
            f"(defined: {', '.join(sorted(roles))}; or {ANYONE!r})"
            for verb in Verb
            for role in self.roles_for(verb)
            if role != ANYONE and role not in roles
        ]

    @classmethod
    def open_to_all(cls, roles: tuple[str, ...]) -> IncidentPolicy:
        """Every verb to the same roles (the built-in policy: its default role holds them)."""
        return cls(**{verb.value: roles for verb in Verb})
