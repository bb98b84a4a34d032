"""Who may request and who may approve a remediation, by the policy's `remediation:` section.

Requesting: remediation enabled, the namespace not frozen, inside what the cluster allows and
what the action allows, and one of the person's roles among the action's `request_roles`.
Approving: the incident's commander, or a holder of one of `approve_roles`, and never the
requester unless the action's `self_approval` allows it for the incident's severity or the
namespace. Every refusal is a `Denied` whose text says what is missing.
"""

from __future__ import annotations

from bot import messages as shared
from bot.errors import Denied
from bot.policy.authorizer import Authorizer
from bot.policy.remediation import RemediationRule, matches
from bot.remediation import messages
from bot.remediation.store import Record


class RemediationGuard:
    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    def rule(self, action: str) -> RemediationRule:
        """The action's bounds; `Denied` when remediation is off or the action is not listed."""
        section = self.authorizer.policy.remediation
        if not section.enabled:
            raise Denied(messages.remediation_disabled())
        rule = next((r for name, r in section.actions.items() if name == action), None)
        if rule is None:
            raise Denied(messages.remediation_not_allowed(action, sorted(section.actions)))
        return rule

    def check_target(self, action: str, cluster: str, namespace: str) -> RemediationRule:
        rule = self.rule(action)
        policy = self.authorizer.policy
        if policy.remediation.frozen(namespace):
            raise Denied(messages.namespace_frozen(namespace))
        allowed = policy.clusters[cluster].namespaces
        if not matches(namespace, allowed):
            raise Denied(shared.denied_namespace_cluster(namespace, cluster, allowed))
        if not matches(namespace, rule.namespaces):
            raise Denied(messages.remediation_namespace(action, namespace, rule.namespaces))
        return rule

    async def check_request(
        self, user: str, action: str, cluster: str, namespace: str
    ) -> RemediationRule:
        rule = self.check_target(action, cluster, namespace)
        held = await self.authorizer.roles_of(user)
        if not set(held) & set(rule.request_roles):
            raise Denied(messages.remediation_request_role(action, held, rule.request_roles))
        return rule

    async def check_approver(self, record: Record, user: str, commander: str | None) -> str:
        """How `user` may approve (`commander`, a role name, or `self`); `Denied` if not."""
        rule = self.check_target(record.action, record.plan.cluster, record.plan.namespace)
        if user == record.requester:
            if not rule.self_approval.allows(record.severity, record.plan.namespace):
                raise Denied(messages.self_approval_refused(record.id))
            return "self"
        if commander is not None and user == commander:
            return "commander"
        held = await self.authorizer.roles_of(user)
        granting = [r for r in held if r in rule.approve_roles]
        if not granting:
            raise Denied(messages.cannot_approve(record.id, commander, rule.approve_roles, held))
        return granting[0]
