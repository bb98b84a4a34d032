"""The policy's `incidents:` section: validated at start-up like the rest (file, field, value),
defaults that keep a team without a policy file working, and refusals that say what is missing
and who holds it, recorded once per person and thing on the timeline and every time in the
audit stream."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ConfigurationError, Denied
from bot.incident import Severity, declared_entry
from bot.policy.authority import REFUSAL_BUCKET_S, Authority
from bot.policy.authorizer import Authorizer
from bot.policy.incidents import ANYONE, IncidentPolicy, Verb
from bot.policy.models import REQUIRED_ROLES, Policy, RoleGrant, default_policy, load_policy
from bot.store.store import Store, new_incident
from tests.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
ROLES = "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("incidents: {resolve: [responders]}",
         "incidents.resolve: 'responders' is not one of the roles"),
        ("incidents: {reopen: [admin]}", "incidents.reopen: Extra inputs are not permitted"),
        ("incidents: {command: [admin, admin]}",
         "incidents.command: ['admin', 'admin'] names a role twice"),
        ("incidents: {declare: viewer}", "incidents.declare: Input should be a valid tuple"),
    ],
)  # fmt: skip
def test_invalid_sections_name_file_field_and_value(
    tmp_path: Path, section: str, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ROLES + section + "\n")
    with pytest.raises(ConfigurationError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_anyone_is_a_word_not_a_role(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ROLES.replace("admin: {}", "admin: {}, anyone: {}"))
    with pytest.raises(ConfigurationError, match=r"roles\.anyone: 'anyone' is reserved"):
        load_policy(path)
    path.write_text(ROLES + "incidents: {declare: [anyone]}\n")
    assert load_policy(path).incidents.declare == (ANYONE,)


def test_the_defaults() -> None:
    # A policy file without the section: the lifecycle to responders, commanders and admins.
    shipped = IncidentPolicy()
    assert shipped.declare == ("viewer", "responder", "commander", "admin")
    assert shipped.assign == ("commander", "admin")
    for verb in (Verb.ACKNOWLEDGE, Verb.UPDATE, Verb.SEVERITY, Verb.COMMAND, Verb.RESOLVE):
        assert shipped.roles_for(verb) == ("responder", "commander", "admin")
    # No policy file: everyone holds the default role, and the default role holds every verb.
    builtin = default_policy()
    assert builtin.default_role == "viewer" and not builtin.remediation.enabled
    assert all("viewer" in builtin.incidents.roles_for(v) for v in Verb)


def test_the_example_policy_is_strict() -> None:
    policy = load_policy(ROOT / "deploy" / "policy.example.yaml")
    assert policy.default_role is None
    assert policy.incidents == IncidentPolicy()  # written out as the defaults are
    assert all(ANYONE not in policy.incidents.roles_for(v) for v in Verb)


async def no_groups(group: str) -> list[str]:
    return []


def policy(**incidents: tuple[str, ...]) -> Policy:
    return Policy(
        roles={
            "viewer": RoleGrant(users=("UVIEW",)),
            "responder": RoleGrant(users=("URESP",), groups=("SONCALL",)),
            "commander": RoleGrant(users=("UCMD",)),
            "admin": RoleGrant(users=("UADMIN",)),
        },
        incidents=IncidentPolicy(**incidents),
    )


async def test_anyone_opens_a_verb_to_people_in_no_role(store: Store) -> None:
    authority = Authority(Authorizer(policy(declare=(ANYONE,)), no_groups), store, ManualClock())
    await authority.require("UNOBODY", Verb.DECLARE)
    with pytest.raises(Denied):
        await authority.require("UNOBODY", Verb.ACKNOWLEDGE)


async def test_a_refusal_names_roles_and_holders_and_is_recorded(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(NOW)
    authority = Authority(Authorizer(policy(), no_groups), store, clock)
    template = new_incident(title="t", severity=Severity.P1, reporter="UCMD", now=NOW)
    incident, _ = await store.create_incident("k", template, declared_entry(template))

    with pytest.raises(Denied) as refused:
        await authority.require("UVIEW", Verb.RESOLVE, incident.id)
    text = str(refused.value)
    assert "Marking mitigated or resolving needs the role responder, commander or admin" in text
    assert "(the policy's `incidents.resolve`); you have viewer" in text
    assert "Held by <@URESP>, <!subteam^SONCALL>, <@UCMD>, <@UADMIN>." in text
    assert "Nothing was changed" in text

    with pytest.raises(Denied):  # again, at once: audited again, not logged again
        await authority.require("UVIEW", Verb.RESOLVE, incident.id)
    clock.advance(REFUSAL_BUCKET_S)
    with pytest.raises(Denied):
        await authority.require("UVIEW", Verb.RESOLVE, incident.id)
    # Never on the incident's timeline (nor so in its report): a refusal did nothing to it.
    assert [e.kind for e in await store.timeline(incident.id)] == ["status"]
    logged = [r for r in caplog.records if "refused incident.resolve to UVIEW" in r.getMessage()]
    assert len(logged) == 2  # once per person and thing per ten minutes
    audit = [a for a in await store.audit_log() if a["user"] == "UVIEW"]
    assert len(audit) == 3 and {a["outcome"] for a in audit} == {"denied"}
    assert {a["action"] for a in audit} == {"incident.resolve"} and audit[0][
        "incident"
    ] == incident.id
    assert (await store.get(incident.id)) == incident  # nothing else changed


async def test_holding_command_is_checked_for_the_assignee(store: Store) -> None:
    authority = Authority(Authorizer(policy(), no_groups), store, ManualClock(NOW))
    await authority.require_commander("UCMD", "URESP", None)
    with pytest.raises(Denied) as refused:
        await authority.require_commander("UCMD", "UVIEW", None)
    assert "<@UVIEW> cannot hold the commander role" in str(refused.value)
    assert "gives it to responder, commander or admin, and they have viewer" in str(refused.value)


def test_the_default_role_is_held_by_everyone() -> None:
    authorizer = Authorizer(default_policy(), no_groups)
    assert authorizer.holders(REQUIRED_ROLES) == "everyone"
