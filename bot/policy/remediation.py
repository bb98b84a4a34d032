"""The `remediation:` section of the policy: what may change in a cluster, who asks, who approves.

Nothing here is on unless the policy says so (`enabled: false` by default, no action listed).
Each remediation action (restart, scale, rollback, delete-pod) is bounded separately: the roles
that may request it and the roles that may approve it, the namespaces it may touch (inside what
the cluster allows), replica bounds and the largest step (scale), a cooldown per target, and
where the requester may approve their own change (judged on the incident's most severe grade so
far, never on one the requester could lower; `self_approval: false` forbids it everywhere).
Nobody approves by being the incident's commander: only holders of `approve_roles` (and the
requester where self-approval is allowed) do. Frozen namespaces and the `enabled` switch
override everything. Role names are checked against the policy's roles by `bot.policy`; action
names against the remediations the app was built with, which are handed in (`unknown_actions`):
the policy knows no remediation by itself, so a new one needs only its class and its entry here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SelfApproval(_Strict):
    """Where a requester may approve their own change (nowhere unless listed)."""

    severities: tuple[Literal["P0", "P1", "P2", "P3"], ...] = ()
    """Incident severities where self-approval is allowed (e.g. [P3]): the most severe grade
    the incident has had, so lowering it first does not help."""

    namespaces: tuple[str, ...] = ()
    """Namespace patterns (shell-style) where self-approval is allowed (e.g. ["*-staging"])."""

    def allows(self, severity: str | None, namespace: str) -> bool:
        return (severity is not None and severity in self.severities) or matches(
            namespace, self.namespaces
        )


class RemediationRule(_Strict):
    """The bounds of one remediation action."""

    request_roles: tuple[str, ...] = ("responder", "commander", "admin")
    """Roles whose holders may request it."""

    approve_roles: tuple[str, ...] = ("commander", "admin")
    """Roles whose holders may approve or deny it. Being the incident's commander is not one:
    the commander approves only by holding one of these."""

    namespaces: tuple[str, ...] = ()
    """Namespace patterns it may touch, inside what the cluster allows; empty: none."""

    min_replicas: int = Field(default=1, ge=0)
    """scale: fewest replicas allowed."""

    max_replicas: int = Field(default=20, ge=1)
    """scale: most replicas allowed."""

    max_step: int = Field(default=10, ge=1)
    """scale: largest change in replicas in one request."""

    cooldown_minutes: float = Field(default=5.0, ge=0)
    """Minutes after a change to a target before another remediation may change it."""

    self_approval: SelfApproval = SelfApproval()
    """Where the requester may approve their own request."""

    @model_validator(mode="after")
    def _bounds(self) -> RemediationRule:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})"
            )
        return self


class RemediationPolicy(_Strict):
    """Guarded remediation: off unless enabled, and only the actions listed."""

    enabled: bool = False
    """The switch: false refuses every remediation request and approval."""

    self_approval: bool = True
    """false: nobody approves their own request, whatever an action's `self_approval` says."""

    frozen_namespaces: tuple[str, ...] = ()
    """Namespace patterns where nothing may be changed (a change freeze)."""

    expiry_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    """How long an approval request stays open."""

    verify_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    """How long to follow a rollout before calling the outcome unknown."""

    actions: dict[str, RemediationRule] = Field(default_factory=dict)
    """Remediation name (restart, scale, rollback, delete-pod) → its bounds; an action not
    listed cannot be requested."""

    def roles_named(self) -> list[tuple[str, str]]:
        """(dotted field, role name) for every role this section mentions."""
        named = []
        for action, rule in self.actions.items():
            named += [
                (f"remediation.actions.{action}.request_roles", r) for r in rule.request_roles
            ]
            named += [
                (f"remediation.actions.{action}.approve_roles", r) for r in rule.approve_roles
            ]
        return named

    def unknown_actions(self, known: Iterable[str]) -> list[str]:
        """What is wrong with the action names, given the remediations the app has."""
        names = sorted(set(known))
        listed = ", ".join(names) or "none"
        return [
            f"remediation.actions.{action}: {action!r} is not a remediation (known: {listed})"
            for action in self.actions
            if action not in names
        ]

    def frozen(self, namespace: str) -> bool:
        return matches(namespace, self.frozen_namespaces)


def matches(value: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)
