"""Who may request and who may approve: the whole matrix (requester / commander / approver /
anyone else × each action × each kind of namespace), the switch and the policy's validation.
Commanding the incident gives no approval; self-approval looks at the incident's most severe
grade so far."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ConfigurationError, Denied
from bot.incident import Incident, Role, Severity
from bot.policy.authorizer import Authorizer
from bot.policy.models import ALL_ACTIONS, Cluster, Policy, RoleGrant, load_policy
from bot.policy.remediation import RemediationPolicy, RemediationRule, SelfApproval
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import Change, Plan
from bot.remediation.guard import RemediationGuard
from bot.remediation.store import Record

RITA, CLEO, APOLLO, OTTO = "URITA", "UCLEO", "UAPOLLO", "UOTTO"
REMEDIATIONS = tuple(r.name for r in default_remediations())
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def policy(enabled: bool = True) -> Policy:
    rule = RemediationRule(
        namespaces=("orion-prod", "orion-staging", "orion-frozen"),
        self_approval=SelfApproval(severities=("P3",), namespaces=("orion-staging",)),
    )
    return Policy(
        roles={
            "viewer": RoleGrant(users=(CLEO, OTTO)),
            "responder": RoleGrant(users=(RITA,)),
            "commander": RoleGrant(users=(APOLLO,)),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={
            "c": Cluster(context="c", namespaces=("orion-*",), default_namespace="orion-prod")
        },
        remediation=RemediationPolicy(
            enabled=enabled, frozen_namespaces=("orion-frozen",),
            actions=dict.fromkeys(REMEDIATIONS, rule),
        ),
    )  # fmt: skip


async def no_groups(group: str) -> list[str]:
    return []


def guard(enabled: bool = True) -> RemediationGuard:
    return RemediationGuard(Authorizer(policy(enabled), no_groups))


def record(action: str, namespace: str, severity: str) -> Record:
    plan = Plan(action=action, kind="deployment", name="task-service", cluster="c",
                namespace=namespace, resource_version="1", uid="u", state="",
                changes=[Change(what="x", before="1", after="2")])  # fmt: skip
    return Record(
        id="R-1", action=action, params={}, plan=plan, requester=RITA, channel="C",
        incident_id="INC-1", severity=severity, requested_at=NOW, expires_at=NOW,
    )  # fmt: skip


def incident(severity: str, peak: str | None = None) -> Incident:
    """CLEO's incident (she commands it), graded `severity`, having been `peak` at worst."""
    return Incident(
        id="INC-1", number=1, title="t", severity=Severity(severity), reporter=CLEO,
        created_at=NOW, roles={Role.COMMANDER: CLEO},
        peak_severity=Severity(peak) if peak else None,
    )  # fmt: skip


# namespace kind → (namespace, incident severity now, its most severe grade so far)
KINDS = {
    "production": ("orion-prod", "P1", None),
    "production-p3": ("orion-prod", "P3", None),
    "production-lowered-to-p3": ("orion-prod", "P3", "P1"),
    "self-approval-namespace": ("orion-staging", "P1", None),
    "frozen": ("orion-frozen", "P1", None),
    "not-open-to-the-action": ("orion-dev", "P1", None),
}
PEOPLE = {"requester": RITA, "commander": CLEO, "approver": APOLLO, "anyone": OTTO}

# (person, namespace kind) → how they may approve RITA's request, or None if refused. The
# incident's commander (CLEO, a viewer) approves nothing: only the approving roles do.
APPROVE = {
    ("requester", "production"): None,
    ("requester", "production-p3"): "self",
    ("requester", "production-lowered-to-p3"): None,  # judged on P1, its worst
    ("requester", "self-approval-namespace"): "self",
    ("approver", "production"): "commander",  # the role that grants it
    ("approver", "production-p3"): "commander",
    ("approver", "production-lowered-to-p3"): "commander",
    ("approver", "self-approval-namespace"): "commander",
}
CAN_REQUEST = {"requester": True, "commander": False, "approver": True, "anyone": False}


@pytest.mark.parametrize("action", REMEDIATIONS)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("person", list(PEOPLE))
async def test_request_matrix(action: str, kind: str, person: str) -> None:
    namespace, _, _ = KINDS[kind]
    allowed = CAN_REQUEST[person] and kind not in {"frozen", "not-open-to-the-action"}
    if allowed:
        await guard().check_request(PEOPLE[person], action, "c", namespace)
        return
    with pytest.raises(Denied) as denied:
        await guard().check_request(PEOPLE[person], action, "c", namespace)
    text = str(denied.value)
    if kind == "frozen":
        assert "is frozen" in text
    elif kind == "not-open-to-the-action":
        assert f"`{action}` may not change anything in `orion-dev`" in text
    else:
        assert "needs the role responder, commander or admin; you have viewer" in text


@pytest.mark.parametrize("action", REMEDIATIONS)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("person", list(PEOPLE))
async def test_approve_matrix(action: str, kind: str, person: str) -> None:
    namespace, severity, peak = KINDS[kind]
    wanted = APPROVE.get((person, kind))
    # The request recorded the grade of its time; the incident is read again when deciding.
    request = record(action, namespace, severity)
    now = incident(severity, peak)
    if wanted is not None:
        assert await guard().check_approver(request, PEOPLE[person], now) == wanted
        return
    with pytest.raises(Denied) as denied:
        await guard().check_approver(request, PEOPLE[person], now)
    text = str(denied.value)
    if kind == "frozen":
        assert "is frozen" in text
    elif kind == "not-open-to-the-action":
        assert "may not change anything in `orion-dev`" in text
    elif person == "requester":
        assert "You requested R-1, so someone else must approve it" in text
    else:
        assert "Only someone with the role commander or admin can approve or deny R-1" in text
        assert f"<@{APOLLO}>" in text  # who holds it
        assert ("Being the incident's commander is not enough" in text) == (person == "commander")


async def test_the_policy_can_forbid_self_approval_outright() -> None:
    strict = policy().model_copy(
        update={"remediation": policy().remediation.model_copy(update={"self_approval": False})}
    )
    with pytest.raises(Denied, match="someone else must approve it"):
        await RemediationGuard(Authorizer(strict, no_groups)).check_approver(
            record("restart", "orion-staging", "P3"), RITA, incident("P3")
        )


async def test_the_switch_refuses_everything() -> None:
    with pytest.raises(Denied, match="Remediation is switched off"):
        await guard(enabled=False).check_request(RITA, "restart", "c", "orion-prod")
    with pytest.raises(Denied, match="Remediation is switched off"):
        await guard(enabled=False).check_approver(
            record("restart", "orion-prod", "P1"), APOLLO, incident("P1")
        )


def test_default_policy_has_remediation_off() -> None:
    assert load_policy(None).remediation.enabled is False


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("actions: {scale: {approve_roles: [approvers]}}",
         "remediation.actions.scale.approve_roles: 'approvers' is not one of the roles"),
        ("actions: {scale: {min_replicas: 5, max_replicas: 2}}",
         "remediation.actions.scale: min_replicas (5) is above max_replicas (2)"),
        ("actions: {reboot: {}}", "remediation.actions.reboot"),
        ("expiry_minutes: 0", "remediation.expiry_minutes: Input should be greater than 0"),
        ("actions: {restart: {self_approval: {severities: [P9]}}}",
         "remediation.actions.restart.self_approval.severities.0"),
    ],
)  # fmt: skip
def test_invalid_sections_name_file_field_and_value(
    tmp_path: Path, section: str, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
        f"remediation: {{enabled: true, {section}}}\n"
    )
    with pytest.raises(ConfigurationError) as err:
        load_policy(path, remediations=REMEDIATIONS)
    assert str(path) in str(err.value) and message in str(err.value)
