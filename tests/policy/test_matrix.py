"""The authority matrix, generated from the policy: every way in × every role → allowed or
refused, asserted against the code that decides.

Every `/incident` subcommand, every button, menu and form, the 📌 reaction, every diagnostic and
every remediation is driven here at the service level (the real app on real Redis and the Slack
double, not started: no scheduler, no Slack deliveries) as each persona — no role, viewer,
responder, commander (held through a Slack user group), admin, and for a remediation's decisions
its requester (another responder) —
in a namespace the policy opens and one it does not. What the policy says is computed from the
authority table (`bot.commands.authority`); what the code did is read from the audit stream,
where every refusal is recorded. They must agree, a refusal must leave the incident as it was,
and a table entry with no driver here (or an entry point with no table entry: see
`test_table.py`) fails.

Two policies: a strict one (no default role; the shipped defaults of `incidents:`) and the
built-in one (everyone a viewer, remediation off), both with one cluster to reach.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import blockkit
from bot.alerts import views as alert_views
from bot.alerts.store import AlertGroup
from bot.app import Deps, Fireline, create_app
from bot.checklists import views as checklist_views
from bot.checklists.reminders import SNOOZES
from bot.commands import authority as table
from bot.diagnostics.actions import default_actions
from bot.errors import FirelineError
from bot.incident import Incident, Severity
from bot.interaction import Actor, Click, Reply
from bot.playbooks.loader import params_models, validate_file
from bot.playbooks.models import Playbooks
from bot.policy.incidents import Verb
from bot.policy.models import (
    ALL_ACTIONS,
    Cluster,
    Database,
    HealthTarget,
    Policy,
    Prometheus,
    RateLimit,
    RoleGrant,
    default_policy,
)
from bot.policy.remediation import RemediationPolicy, RemediationRule, SelfApproval
from bot.remediation import views as approval_views
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import Change, Plan
from bot.remediation.store import Record, State
from bot.sandbox.doubles.kubernetes import api_client
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from bot.store.store import new_incident
from tests.clock import ManualClock
from tests.harness import SIGNING_SECRET, settings_for

PERSONAS = ("no role", "viewer", "responder", "commander", "admin")
OPEN_NS, CLOSED_NS = "orion-prod", "orion-staging"
NOWHERE = "http://127.0.0.1:9"
"""Loopback, nothing listening: an allowed action runs and fails at once, refused is refused."""
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
READS = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints")
PLAYBOOK = """\
title: Matrix
summary: One step, for the authority matrix.
match: {alertnames: [MatrixAlert]}
diagnostics:
  - action: pods
    params: {target: "{{ labels.deployment }}", namespace: "{{ labels.namespace }}"}
    why: See the pods.
remediations:
  - action: restart
    params: {deployment: "{{ labels.deployment }}", namespace: "{{ labels.namespace }}"}
    when: Always.
guidance: {immediate: [Look.], long_term: [Fix.]}
links: [{title: Docs, url: "https://example.org/docs"}]
example: {alertname: MatrixAlert, labels: {deployment: task-service, namespace: orion-prod}}
"""


def cluster() -> Cluster:
    return Cluster(context="c", namespaces=("orion-*",), default_namespace=OPEN_NS)


def strict_policy(users: dict[str, str], commanders_group: str) -> Policy:
    """No default role; `incidents:` left at its shipped defaults; remediation on in
    orion-prod only, self-approval at P3; diagnostics open by role and namespace."""
    diagnose = (*READS, "logs", "health", "query", "diagnose")
    rule = RemediationRule(
        namespaces=(OPEN_NS,), self_approval=SelfApproval(severities=("P3",)), cooldown_minutes=0
    )
    return Policy(
        roles={
            "viewer": RoleGrant(users=(users["viewer"],), actions=READS, namespaces=(OPEN_NS,)),
            "responder": RoleGrant(
                users=(users["responder"], users["requester"]),
                actions=diagnose,
                health=("*",),
                queries=("*",),
            ),
            "commander": RoleGrant(
                groups=(commanders_group,),
                actions=(*diagnose, "db"),
                health=("*",),
                queries=("*",),
                databases=("*",),
            ),
            "admin": RoleGrant(
                users=(users["admin"],),
                actions=(ALL_ACTIONS,),
                health=("*",),
                queries=("*",),
                databases=("*",),
            ),
        },
        **targets(),
        remediation=RemediationPolicy(
            enabled=True, actions=dict.fromkeys((r.name for r in default_remediations()), rule)
        ),
    )


def targets() -> dict[str, Any]:
    return {
        "clusters": {"c": cluster()},
        "prometheus": Prometheus(url=NOWHERE, timeout_s=1),
        "health": {"api": HealthTarget(url=f"{NOWHERE}/healthz", timeout_s=1)},
        "databases": {"orders": Database(dsn_env="FIRELINE_MATRIX_UNSET_DSN")},
        "rate_limit": RateLimit(per_minute=10_000),
    }


def builtin_policy(users: dict[str, str], commanders_group: str) -> Policy:
    """The built-in policy, with a cluster and targets to reach (it has none of its own)."""
    return default_policy().model_copy(update=targets())


@dataclass
class Rig:
    app: Fireline
    slack: SlackDouble
    users: dict[str, str]
    room: str
    alerts_channel: str
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def policy(self) -> Policy:
        return self.app.diagnostics.authorizer.policy

    def n(self) -> int:
        return next(self.counter)

    async def incident(self, severity: str = "P2", peak: str | None = None) -> Incident:
        """A fresh incident with its own channel (everyone a member), recorded straight in
        Redis: the commander is the admin, so taking or giving command changes something."""
        store = self.app.services.store
        channel = self.slack.add_channel(f"inc-matrix-{self.n()}", members=self.users.values())
        template = new_incident(
            title="Matrix", severity=Severity(severity), reporter=self.users["admin"], now=NOW,
            commander=self.users["admin"],
        )  # fmt: skip
        created, _ = await store.create_incident(uuid.uuid4().hex, template, _entry(template))
        update: dict[str, Any] = {"channel_id": channel}
        if peak:
            update["peak_severity"] = Severity(peak)
        incident, _ = await store.mutate(
            created.id, lambda i: (i.model_copy(update=update), []), bump=False
        )
        return incident

    async def alert_group(self, namespace: str) -> AlertGroup:
        ts = await self.app.services.slack.post_message(self.alerts_channel, "MatrixAlert firing")
        group = AlertGroup(
            group_id=f"g{self.n()}", group_key="k", channel=self.alerts_channel, parent_ts=ts,
            title="MatrixAlert", common_labels={"deployment": "task-service",
                                                "namespace": namespace},
            playbook="matrix", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        await self.app.services.alerts.alerts.save_group(group)
        return group

    async def record(
        self, incident: Incident, namespace: str, state: State = State.PENDING
    ) -> Record:
        """A remediation the requester (a responder) asked for on `incident`, in `state`."""
        assert self.app.remediation is not None
        plan = Plan(
            action="restart", kind="deployment", name=f"task-service-{self.n()}", cluster="c",
            namespace=namespace, resource_version="1", uid="u", state="",
            changes=[Change(what="restartedAt", before="never", after="now")],
        )  # fmt: skip
        record = Record(
            id=await self.app.remediation.records.new_id(), action="restart", params={},
            plan=plan, requester=self.users["requester"], channel=incident.channel_id or "",
            incident_id=incident.id, severity=incident.severity.value, state=state,
            requested_at=NOW, expires_at=NOW + timedelta(hours=1),
        )  # fmt: skip
        assert await self.app.remediation.records.create(record, 3600) is None
        return record

    async def audit_mark(self) -> str:
        """Where the audit stream ends now."""
        store = self.app.services.store
        last = await store.redis.xrevrange(store.keys.audit, count=1)
        if not last:
            return "0-0"
        entry_id = last[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def denied_since(self, mark: str, user: str) -> bool:
        """Whether a refusal of `user` was recorded after `mark`."""
        store = self.app.services.store
        entries = await store.redis.xrange(store.keys.audit, min=f"({mark}") or []
        return any(
            f.get(b"user") == user.encode() and f.get(b"outcome") == b"denied"
            for _, f in entries
            if f is not None
        )


def _entry(template: Incident) -> Any:
    from bot.incident import declared_entry

    return declared_entry(template)


async def settle(reply: Any) -> None:
    """Run what would follow the ack (the policy decides some things there: diagnostics and
    remediation requests), as the handlers do."""
    if isinstance(reply, Reply) and reply.later is not None:
        await reply.later()


# --- what the code is asked, per entry point ---------------------------------------------------

Attempt = Callable[[Rig, str, str], Awaitable[Any]]
"""(rig, user, namespace) → makes one attempt; returns the incident it was about, if any."""


def typed(text: str, *, run_later: bool = False) -> Attempt:
    async def attempt(rig: Rig, user: str, namespace: str) -> Incident:
        incident = await rig.incident()
        assert incident.channel_id is not None
        words = text.format(ns=namespace, me=user, other=rig.users["commander"])
        dispatcher = rig.app.services.dispatcher
        actor = Actor(user, incident.channel_id, uuid.uuid4().hex)
        reply = await dispatcher.command(dispatcher.parse(words), actor)
        if run_later:
            await settle(reply)
        return incident

    return attempt


def clicked(make: Callable[[Any, Click, Incident], Awaitable[Any]], value: str = "{id}") -> Attempt:
    async def attempt(rig: Rig, user: str, namespace: str) -> Incident:
        incident = await rig.incident()
        assert incident.channel_id and incident.card_ts is None
        click = Click(user, incident.channel_id, message_ts="1.000001")
        await make(rig.app.services.dispatcher, click, incident)
        return incident

    return attempt


def on_card(method: str, value: str = "{id}") -> Attempt:
    async def make(dispatcher: Any, click: Click, incident: Incident) -> Any:
        return await getattr(dispatcher, method)(click, value.format(id=incident.id))

    return clicked(make)


def checklist(kind: str) -> Attempt:
    async def make(dispatcher: Any, click: Click, incident: Incident) -> Any:
        return await dispatcher.answer_checklist(click, f"{incident.id}|5|1", kind)

    return clicked(make)


def snooze(choice: str) -> Attempt:
    async def make(dispatcher: Any, click: Click, incident: Incident) -> Any:
        return await dispatcher.snooze(click, f"{incident.id}|{choice}")

    return clicked(make)


def form(method: str, *args: Any) -> Attempt:
    async def attempt(rig: Rig, user: str, namespace: str) -> Incident:
        incident = await rig.incident()
        await getattr(rig.app.services.dispatcher, method)(incident.id, user, *args)
        return incident

    return attempt


async def declare_form(rig: Rig, user: str, namespace: str) -> None:
    actor = Actor(user, rig.room, uuid.uuid4().hex)
    await rig.app.services.dispatcher.declare(
        actor, title="Matrix", severity=Severity.P2, defaulted=False, request_key=actor.trigger_id
    )


async def pin(rig: Rig, user: str, namespace: str) -> Incident:
    incident = await rig.incident()
    assert incident.channel_id is not None
    ts = await rig.app.services.slack.post_message(incident.channel_id, "the cause")
    await rig.app.services.dispatcher.pin(incident.channel_id, ts, user)
    return incident


def on_alert(method: str, *, run_later: bool = False) -> Attempt:
    async def attempt(rig: Rig, user: str, namespace: str) -> None:
        group = await rig.alert_group(namespace)
        click = Click(user, group.channel, message_ts=group.parent_ts)
        if method in {"run_clicked", "silence"}:
            owner = rig.app.services.alert_playbooks
            reply = await getattr(owner, method)(group.group_id, click)
        else:
            reply = await getattr(rig.app.services.dispatcher, method)(click, group.group_id)
        if run_later:
            await settle(reply)

    return attempt


async def remediation_button(rig: Rig, user: str, namespace: str) -> Incident:
    incident = await rig.incident()
    assert incident.channel_id and rig.app.remediation is not None
    value = {"action": "restart", "params": {"deployment": "task-service", "namespace": namespace},
             "incident": incident.id}  # fmt: skip
    click = Click(user, incident.channel_id, message_ts="1.000001")
    await settle(await rig.app.remediation.from_button(json.dumps(value), click))
    return incident


def decision(method: str, state: State = State.PENDING, *args: Any) -> Attempt:
    async def attempt(rig: Rig, user: str, namespace: str) -> Incident:
        incident = await rig.incident("P1")
        record = await rig.record(incident, namespace, state)
        assert rig.app.remediation is not None
        await getattr(rig.app.remediation, method)(record.id, user, *args)
        return incident

    return attempt


ATTEMPTS: dict[str, Attempt] = {
    # subcommands
    "declare": typed("declare P2 Matrix"),
    "ack": typed("ack"),
    "severity": typed("severity P1"),
    "assign": typed("assign comms <@{other}>"),
    "update": typed("update all good"),
    "note": typed("note cache cleared"),
    "followup": typed("followup alert on it"),
    "mitigated": typed("mitigated"),
    "resolve": typed("resolve"),
    "status": typed("status"),
    "timeline": typed("timeline"),
    "report": typed("report"),
    "list": typed("list"),
    "help": typed("help"),
    "playbook": typed("playbook matrix task-service -n {ns}", run_later=True),
    # the card, its forms, checklists and reminders
    blockkit.ACK: on_card("acknowledge_click"),
    blockkit.TAKE_COMMAND: on_card("take_command"),
    blockkit.SEVERITY: on_card("severity_click", "{id}|P1"),
    blockkit.POST_UPDATE: on_card("update_form"),
    blockkit.RESOLVE: on_card("resolve_form"),
    blockkit.DECLARE_VIEW: declare_form,
    blockkit.UPDATE_VIEW: form("status_update", "all good"),
    blockkit.RESOLVE_VIEW: form("resolve", "fixed"),
    checklist_views.CHECK_DONE: checklist("done"),
    checklist_views.CHECK_NA: checklist("n/a"),
    **{f"{checklist_views.SNOOZE}_{c}": snooze(c) for c in SNOOZES},
    "reaction_added": pin,
    # alerts
    alert_views.ACK_ALERT: on_alert("acknowledge_alert"),
    alert_views.DECLARE_FROM_ALERT: on_alert("declare_from_alert"),
    alert_views.RUN_PLAYBOOK: on_alert("run_clicked", run_later=True),
    alert_views.SILENCE_ALERT: on_alert("silence"),
    # remediation
    blockkit.REMEDIATION_REQUEST: remediation_button,
    approval_views.APPROVE: decision("approve"),
    approval_views.DENY: decision("deny_form"),
    approval_views.DENY_VIEW: decision("deny", State.PENDING, "not now"),
    approval_views.CANCEL: decision("cancel"),
    approval_views.RECHECK: decision("recheck", State.UNKNOWN),
    approval_views.REPREVIEW: decision("repreview", State.STALE),
}
EXTRA: dict[str, tuple[table.Rule, Attempt]] = {
    "assign commander @me (taking command)": (
        table.verb(Verb.COMMAND),
        typed("assign commander <@{me}>"),
    ),
}
"""Attempts beside the table's entries, and the rule that decides them."""

ACTION_TEXT = {
    "pods": "task-service", "describe": "task-service-abc", "logs": "task-service",
    "events": "", "top": "task-service", "rollout-history": "task-service", "hpa": "",
    "endpoints": "task-service", "diagnose": "task-service",
    "restart": "task-service", "scale": "task-service 3", "rollback": "task-service",
    "delete-pod": "task-service-abc",
}  # fmt: skip
"""Arguments for each Kubernetes action; the others (`health`, `query`, `db`) have no
namespace."""
NO_NAMESPACE = {"health": "api", "query": "error-rate", "db": "orders"}

RULE_NEEDS = {
    "diagnostics": "action",
    "remediation.request": "action",
    "remediation.approve": "record",
    "remediation.requester": "record",
    "remediation.requester-or-approver": "record",
}


def action_attempt(name: str) -> Attempt:
    if name in NO_NAMESPACE:
        return typed(f"{name} {NO_NAMESPACE[name]}", run_later=True)
    return typed(f"{name} {ACTION_TEXT[name]} -n {{ns}}".replace("  ", " "), run_later=True)


# --- the matrix ------------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


async def build(
    slack: SlackDouble,
    redis_handle: RedisHandle,
    prefix: str,
    make_policy: Callable[[dict[str, str], str], Policy],
    tmp_path: Path,
) -> Rig:
    users = {p: slack.add_user(p.replace(" ", "-")) for p in (*PERSONAS, "requester")}
    group = slack.add_usergroup("commanders", [users["commander"]])
    room = slack.add_channel("war-room", members=users.values())
    alerts = slack.add_channel("alerts", members=users.values())
    broadcast = slack.add_channel("incidents", members=users.values())
    path = tmp_path / "matrix.yaml"
    path.write_text(PLAYBOOK)
    playbook, errors = validate_file(path, params_models(default_actions(), default_remediations()))
    assert playbook is not None, errors
    deps = Deps(
        redis=redis_handle,
        policy=make_policy(users, group),
        clock=ManualClock(NOW),
        playbooks=Playbooks({playbook.name: playbook}),
        kube_clients={"c": api_client(NOWHERE)},
        kube_attempts=1,
        kube_timeout_s=0.5,
    )
    settings = settings_for(
        slack, broadcast, redis_prefix=prefix, alerts_channel=alerts, alertmanager_url=NOWHERE
    )
    return Rig(create_app(settings, deps), slack, users, room, alerts)


@dataclass
class Case:
    entry: str
    persona: str
    namespace: str
    expected: bool
    actual: bool = False


def cases_for(rig: Rig) -> list[tuple[str, table.Rule, Attempt, dict[str, Any]]]:
    """Every entry point with its rule, its attempt and what the rule needs to know."""
    out: list[tuple[str, table.Rule, Attempt, dict[str, Any]]] = []
    for name, rule in {**table.SUBCOMMANDS, **table.INTERACTIONS, **table.EVENTS}.items():
        if name == "reaction_removed":
            continue  # acknowledged and nothing else: there is nothing to refuse
        needs = {"action": "pods"} if RULE_NEEDS.get(rule.kind) == "action" else {}
        if rule.kind == "remediation.request":
            needs = {"action": "restart"}
        if RULE_NEEDS.get(rule.kind) == "record":
            needs = {"action": "restart", "severity": "P1"}
        out.append((name, rule, ATTEMPTS[name], needs))
    for name, (rule, attempt) in EXTRA.items():
        out.append((name, rule, attempt, {}))
    for name in rig.app.diagnostics.actions:
        kube = name not in NO_NAMESPACE
        out.append((f"/incident {name}", table.DIAGNOSTIC_ACTION, action_attempt(name),
                    {"action": name, "namespaced": kube}))  # fmt: skip
    assert rig.app.remediation is not None
    for name in rig.app.remediation.actions:
        out.append((f"/incident {name}", table.REMEDIATION_ACTION, action_attempt(name),
                    {"action": name}))  # fmt: skip
    return out


async def run_matrix(rig: Rig) -> list[Case]:
    results: list[Case] = []
    authorizer = rig.app.diagnostics.authorizer
    for name, rule, attempt, needs in cases_for(rig):
        namespaced = bool(needs.get("action")) and needs.get("namespaced", True)
        namespaces = (OPEN_NS, CLOSED_NS) if namespaced else (OPEN_NS,)
        personas = [*PERSONAS, "requester"] if RULE_NEEDS.get(rule.kind) == "record" else PERSONAS
        for persona, namespace in itertools.product(personas, namespaces):
            user = rig.users[persona]
            roles = await authorizer.roles_of(user)
            expected = rule.allows(
                rig.policy,
                roles,
                action=needs.get("action"),
                namespace=namespace if namespaced else None,
                requester=persona == "requester",
                severity=needs.get("severity"),
            )
            mark = await rig.audit_mark()
            incident = None
            # A refusal raises (or a failure past the policy does): the audit says which.
            with contextlib.suppress(FirelineError):
                incident = await attempt(rig, user, namespace)
            refused = await rig.denied_since(mark, user)
            results.append(Case(name, persona, namespace, expected, actual=not refused))
            if refused and isinstance(incident, Incident):
                after = await rig.app.services.store.get(incident.id)
                assert after == incident, f"{name} as {persona}: refused, yet the incident changed"
    return results


def report(cases: list[Case]) -> str:
    wrong = [c for c in cases if c.expected != c.actual]
    return "\n".join(
        f"{c.entry} as {c.persona} in {c.namespace}: policy says "
        f"{'allowed' if c.expected else 'refused'}, code {'allowed' if c.actual else 'refused'}"
        for c in wrong
    )


@pytest.mark.parametrize("make_policy", [strict_policy, builtin_policy], ids=["strict", "built-in"])
async def test_every_entry_point_for_every_role_is_decided_as_the_policy_says(
    slack: SlackDouble,
    redis_handle: RedisHandle,
    prefix: str,
    tmp_path: Path,
    make_policy: Callable[[dict[str, str], str], Policy],
) -> None:
    rig = await build(slack, redis_handle, prefix, make_policy, tmp_path)
    try:
        cases = await run_matrix(rig)
    finally:
        await rig.app.stop(0)  # never started, but its gateways opened connections
    assert report(cases) == ""
    covered = {c.entry for c in cases}
    assert set(ATTEMPTS) | set(EXTRA) <= covered | {"reaction_removed"}
    # Not a matrix that says "refused" (or "allowed") everywhere: both happen.
    assert any(c.actual for c in cases) and not all(c.actual for c in cases)
    if make_policy is strict_policy:
        by_entry: dict[str, set[bool]] = {}
        for case in cases:
            by_entry.setdefault(case.entry, set()).add(case.actual)
        open_to_all = {n for n, r in table.SUBCOMMANDS.items() if r.kind == "anyone"}
        for entry, outcomes in by_entry.items():
            if entry not in open_to_all:
                assert outcomes == {True, False}, f"{entry}: everyone {outcomes}"
