"""Who may request and who may approve a remediation, by the policy's `remediation:` section.

Requesting: remediation enabled, the namespace not frozen, inside what the cluster allows and
what the action allows, and one of the person's roles among the action's `request_roles`.
Approving (and denying, and previewing again for someone else): a holder of one of
`approve_roles`. Being the incident's commander gives nothing by itself. The requester approves
their own request only where the action's `self_approval` allows it for the incident's *most
severe* grade so far (re-read from the incident when deciding, so lowering the severity first
does not help) or for the namespace, and never when the section's `self_approval` is false.
Every refusal is a `Denied` whose text says what is missing and who holds it; with an
`Authority`, it is also recorded (audit stream, log).
"""

from __future__ import annotations

from bot import messages as shared
from bot.errors import Denied
from bot.incident import Incident, Severity
from bot.policy.authority import Authority
from bot.policy.authorizer import Authorizer
from bot.policy.remediation import RemediationRule, matches
from bot.remediation import messages
from bot.remediation.store import Record


class RemediationGuard:
    def __init__(self, authorizer: Authorizer, authority: Authority | None = None) -> None:
        self.authorizer = authorizer
        self.authority = authority

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
            raise Denied(
                messages.remediation_request_role(
                    action, held, rule.request_roles, self.authorizer.holders(rule.request_roles)
                )
            )
        return rule

    def self_approval_allowed(self, record: Record, incident: Incident | None) -> bool:
        """Whether the requester may approve `record` themselves, now."""
        rule = self.authorizer.policy.remediation.actions.get(record.action)
        if rule is None or not self.authorizer.policy.remediation.self_approval:
            return False
        return rule.self_approval.allows(most_severe(record, incident), record.plan.namespace)

    async def check_approver(self, record: Record, user: str, incident: Incident | None) -> str:
        """How `user` may approve or deny `record` (`self`, or the role that lets them), given
        the incident as it is now; `Denied` (recorded, with an `Authority`) if they may not."""
        try:
            return await self._approver(record, user, incident)
        except Denied as exc:
            if self.authority is not None:
                await self.authority.record_refusal(
                    user, f"remediation.approve {record.id}", record.incident_id, str(exc)
                )
            raise

    async def _approver(self, record: Record, user: str, incident: Incident | None) -> str:
        rule = self.check_target(record.action, record.plan.cluster, record.plan.namespace)
        if user == record.requester:
            if not self.self_approval_allowed(record, incident):
                severity = most_severe(record, incident)
                raise Denied(
                    messages.self_approval_refused(
                        record.id,
                        severity,
                        rule.approve_roles,
                        self.authorizer.holders(rule.approve_roles),
                    )
                )
            return "self"
        held = await self.authorizer.roles_of(user)
        granting = [r for r in held if r in rule.approve_roles]
        if not granting:
            commanding = incident is not None and incident.commander == user
            raise Denied(
                messages.cannot_approve(
                    record.id,
                    rule.approve_roles,
                    held,
                    self.authorizer.holders(rule.approve_roles),
                    commanding,
                )
            )
        return granting[0]


def most_severe(record: Record, incident: Incident | None) -> str | None:
    """The most severe grade the request's incident has had: what it was when requested, and
    whatever it has been since (the incident records its peak)."""
    at_request = Severity(record.severity) if record.severity else None
    if incident is None:
        return at_request.value if at_request else None
    return incident.most_severe.worse(at_request).value
