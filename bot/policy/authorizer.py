"""Applying the policy: a person's roles (user IDs and user groups) and whether they may run an
action on what it will touch.

`Authorizer.check()` is called before an action touches anything, and a denial names what is
missing: the roles that would allow the action, or the namespace the cluster or the person's
roles do not open. Group membership comes from Slack (`usergroups.users.list`), cached briefly.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot import messages as shared
from bot.errors import Denied
from bot.policy import messages
from bot.policy.models import ALL_ACTIONS, TARGET_FIELDS, Policy

GROUP_CACHE_S = 60.0
TARGET_LABELS = {"health": "health-check target", "database": "database", "prometheus": "query"}


@dataclass(frozen=True)
class Scope:
    """What an action will touch: its kind of target and, for Kubernetes, where."""

    kind: Literal["kubernetes", "prometheus", "health", "database"]
    target: str
    cluster: str | None = None
    namespace: str | None = None

    def describe(self) -> str:
        if self.kind == "kubernetes":
            return f"{self.target} in {self.cluster}/{self.namespace}"
        return f"{self.kind} {self.target}"


GroupMembers = Callable[[str], Awaitable[Iterable[str]]]


class Authorizer:
    """Resolves a person's roles (user IDs, user groups, briefly cached) and checks actions."""

    def __init__(
        self,
        policy: Policy,
        group_members: GroupMembers,
        *,
        cache_s: float = GROUP_CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
        principals: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.policy = policy
        # Non-person users (the alert pipeline) and the roles they hold; never a Slack user ID.
        self.principals = dict(principals or {})
        self._group_members = group_members
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def roles_of(self, user: str) -> list[str]:
        if user in self.principals:
            return list(self.principals[user])
        roles = []
        for name, grant in self.policy.roles.items():
            if name == self.policy.default_role or user in grant.users:
                roles.append(name)
                continue
            for group in grant.groups:
                if user in await self._members(group):
                    roles.append(name)
                    break
        return roles

    async def _members(self, group: str) -> frozenset[str]:
        now = self._monotonic()
        cached = self._groups.get(group)
        if cached and now - cached[0] < self._cache_s:
            return cached[1]
        members = frozenset(await self._group_members(group))
        self._groups[group] = (now, members)
        return members

    def holders(self, roles: Iterable[str], *, limit: int = 6) -> str:
        """Who holds `roles`, as far as the policy lists them: user IDs as mentions, user groups
        as groups, "everyone" for the default role. For ephemeral refusals only: a mention in a
        channel message would ping (which is why a diagnostic's denial, which an alert-triggered
        playbook run posts in its thread, does not name holders)."""
        roles = list(roles)
        if self.policy.default_role in roles:
            return "everyone"
        people: list[str] = []
        for role in roles:
            grant = self.policy.roles.get(role)
            if grant is not None:
                people += [f"<@{u}>" for u in grant.users]
                people += [f"<!subteam^{g}>" for g in grant.groups]
        unique = list(dict.fromkeys(people))
        more = len(unique) - limit
        return ", ".join(unique[:limit]) + (f" and {more} more" if more > 0 else "")

    def roles_allowing(self, action: str) -> list[str]:
        return [
            name
            for name, grant in self.policy.roles.items()
            if action in grant.actions or ALL_ACTIONS in grant.actions
        ]

    def permitted(self, roles: Iterable[str], actions: Iterable[str]) -> frozenset[str]:
        """The actions any of `roles` may run."""
        names = list(actions)
        return frozenset(a for a in names if any(r in self.roles_allowing(a) for r in roles))

    async def check(self, user: str, action: str, scopes: Iterable[Scope]) -> list[str]:
        """The roles that let `user` run `action` on `scopes`; `Denied` naming what is missing."""
        held = await self.roles_of(user)
        allowing = [r for r in held if r in self.roles_allowing(action)]
        if not allowing:
            raise Denied(messages.denied_action(action, held, self.roles_allowing(action)))
        for scope in scopes:
            if scope.kind == "kubernetes":
                self._check_namespace(scope, allowing)
            else:
                self._check_target(scope, action, allowing)
        return allowing

    def reaches(self, roles: Iterable[str], scope: Scope) -> bool:
        """Whether one of `roles` may reach a health target, database or named query."""
        assert scope.kind != "kubernetes"
        return any(self.policy.roles[r].reaches(scope.kind, scope.target) for r in roles)

    def _check_target(self, scope: Scope, action: str, roles: list[str]) -> None:
        assert scope.kind != "kubernetes"
        if self.reaches(roles, scope):
            return
        granting = [
            name
            for name in self.roles_allowing(action)
            if self.policy.roles[name].reaches(scope.kind, scope.target)
        ]
        field = TARGET_FIELDS[scope.kind]
        what = f"{TARGET_LABELS[scope.kind]} `{scope.target}`"
        raise Denied(messages.denied_target(what, roles, granting, field))

    def _check_namespace(self, scope: Scope, roles: list[str]) -> None:
        assert scope.cluster is not None and scope.namespace is not None
        cluster = self.policy.clusters[scope.cluster]
        if not _matches(scope.namespace, cluster.namespaces):
            raise Denied(
                shared.denied_namespace_cluster(scope.namespace, scope.cluster, cluster.namespaces)
            )
        if not any(_matches(scope.namespace, self.policy.roles[r].namespaces) for r in roles):
            granting = [
                name
                for name, grant in self.policy.roles.items()
                if _matches(scope.namespace, grant.namespaces)
            ]
            raise Denied(messages.denied_namespace_role(scope.namespace, roles, granting))


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)
