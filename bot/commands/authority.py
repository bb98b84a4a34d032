"""The authority table: every way into Fireline, and the part of the policy that decides it.

Every `/incident` subcommand (`Dispatcher.subcommands`), every button, menu and form Fireline
registers, and the 📌 reaction are listed here with their `Rule`. A rule says which part of the
policy decides and, given a policy, who it lets in (`allows`): that is what
`tests/policy/test_matrix.py` asserts against the running code for every role, and it fails when
an entry point exists without a line here. Diagnostic and remediation actions typed as
subcommands are not listed one by one: every action is decided by its own entry in the policy
(`roles.<role>.actions`, `remediation.actions.<name>`), which the policy's validation ties to
the actions the app was built with.

The enforcement itself is where the change is made (`bot.commands.operations` and `.clicks`,
`bot.remediation.guard`, `bot.alerts.playbooks`, `bot.diagnostics.service`); this table is the
specification they are tested against, and what `docs/decisions/authority.md` explains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot import blockkit
from bot.alerts import views as alert_views
from bot.checklists import views as checklist_views
from bot.checklists.reminders import SNOOZES
from bot.policy.incidents import ANYONE, Verb
from bot.policy.models import Policy
from bot.policy.remediation import matches
from bot.remediation import views as approval_views


@dataclass(frozen=True)
class Rule:
    """Which part of the policy decides an entry point."""

    kind: str
    """`anyone`, `incidents`, `diagnostics`, `remediation.request`, `remediation.approve`,
    `remediation.requester`, `remediation.requester-or-approver`, `alerts.silence`."""
    verb: Verb | None = None
    """For `incidents`: the verb of the `incidents:` section."""

    def field(self) -> str:
        """The policy field a team edits to change who may."""
        fields = {
            "anyone": "(nothing: open to everyone; it changes nothing)",
            "diagnostics": "roles.<role>.actions and .namespaces (each step or action)",
            "remediation.request": "remediation.actions.<action>.request_roles",
            "remediation.approve": "remediation.actions.<action>.approve_roles, .self_approval",
            "remediation.requester": "(only the requester)",
            "remediation.requester-or-approver": "remediation.actions.<action>.approve_roles",
            "alerts.silence": "alerts.silence_roles",
        }
        return f"incidents.{self.verb.value}" if self.verb else fields[self.kind]

    def allows(
        self,
        policy: Policy,
        roles: Iterable[str],
        *,
        action: str | None = None,
        namespace: str | None = None,
        requester: bool = False,
        severity: str | None = None,
    ) -> bool:
        """Whether a person holding `roles` may, by this policy (`requester`: they asked for
        the remediation in question; `severity`: its incident's most severe grade)."""
        held = set(roles)
        if self.kind == "anyone":
            return True
        if self.kind == "incidents":
            assert self.verb is not None
            allowed = policy.incidents.roles_for(self.verb)
            return ANYONE in allowed or bool(held & set(allowed))
        if self.kind == "alerts.silence":
            return bool(held & set(policy.alerts.silence_roles))
        if self.kind == "diagnostics":
            assert action is not None
            return any(
                grant_allows(policy, role, action, namespace)
                for role in held
                if role in policy.roles
            )
        assert action is not None and namespace is not None
        if self.kind == "remediation.requester" or (
            self.kind == "remediation.requester-or-approver" and requester
        ):
            return requester  # their own request: no other check
        section = policy.remediation
        rule = section.actions.get(action)
        if not section.enabled or rule is None or section.frozen(namespace):
            return False
        if not matches(namespace, rule.namespaces):
            return False
        if self.kind == "remediation.request":
            return bool(held & set(rule.request_roles))
        if requester:
            return section.self_approval and rule.self_approval.allows(severity, namespace)
        return bool(held & set(rule.approve_roles))


def grant_allows(policy: Policy, role: str, action: str, namespace: str | None) -> bool:
    grant = policy.roles[role]
    if action not in grant.actions and "*" not in grant.actions:
        return False
    return namespace is None or matches(namespace, grant.namespaces)


ANYONE_RULE = Rule("anyone")
DIAGNOSTICS = Rule("diagnostics")


def verb(v: Verb) -> Rule:
    return Rule("incidents", v)


SUBCOMMANDS: dict[str, Rule] = {
    "declare": verb(Verb.DECLARE),
    "ack": verb(Verb.ACKNOWLEDGE),
    "severity": verb(Verb.SEVERITY),
    "assign": verb(Verb.ASSIGN),  # `assign commander @me` is taking command: Verb.COMMAND
    "update": verb(Verb.UPDATE),
    "note": verb(Verb.UPDATE),
    "followup": verb(Verb.UPDATE),
    "mitigated": verb(Verb.RESOLVE),
    "resolve": verb(Verb.RESOLVE),
    "report": verb(Verb.UPDATE),
    "status": ANYONE_RULE,
    "timeline": ANYONE_RULE,
    "list": ANYONE_RULE,
    "help": ANYONE_RULE,
    "playbook": DIAGNOSTICS,  # listing is open; a run is each step's diagnostic
}
"""`/incident <name>` → its rule (the names of `Dispatcher.subcommands`)."""

INTERACTIONS: dict[str, Rule] = {
    blockkit.ACK: verb(Verb.ACKNOWLEDGE),
    blockkit.TAKE_COMMAND: verb(Verb.COMMAND),
    blockkit.SEVERITY: verb(Verb.SEVERITY),
    blockkit.POST_UPDATE: verb(Verb.UPDATE),
    blockkit.RESOLVE: verb(Verb.RESOLVE),
    blockkit.DECLARE_VIEW: verb(Verb.DECLARE),
    blockkit.UPDATE_VIEW: verb(Verb.UPDATE),
    blockkit.RESOLVE_VIEW: verb(Verb.RESOLVE),
    checklist_views.CHECK_DONE: verb(Verb.UPDATE),
    checklist_views.CHECK_NA: verb(Verb.UPDATE),
    **{f"{checklist_views.SNOOZE}_{choice}": verb(Verb.UPDATE) for choice in SNOOZES},
    alert_views.ACK_ALERT: verb(Verb.ACKNOWLEDGE),
    alert_views.DECLARE_FROM_ALERT: verb(Verb.DECLARE),
    alert_views.RUN_PLAYBOOK: DIAGNOSTICS,
    alert_views.SILENCE_ALERT: Rule("alerts.silence"),
    blockkit.REMEDIATION_REQUEST: Rule("remediation.request"),
    approval_views.APPROVE: Rule("remediation.approve"),
    approval_views.DENY: Rule("remediation.approve"),
    approval_views.DENY_VIEW: Rule("remediation.approve"),
    approval_views.CANCEL: Rule("remediation.requester"),
    approval_views.RECHECK: Rule("remediation.requester-or-approver"),
    approval_views.REPREVIEW: Rule("remediation.requester-or-approver"),
}
"""Button, menu and form IDs (`action_id` / `callback_id`) → their rule."""

EVENTS: dict[str, Rule] = {
    "reaction_added": verb(Verb.UPDATE),  # 📌 puts a message on the timeline
    "reaction_removed": ANYONE_RULE,  # acknowledged, changes nothing
}
"""Events API event types → their rule."""

DIAGNOSTIC_ACTION = DIAGNOSTICS
REMEDIATION_ACTION = Rule("remediation.request")
"""Actions typed as `/incident <action> …`: every diagnostic, every remediation."""
