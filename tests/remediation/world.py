"""What remediation tests run and read: a bot (the `world` fixture in conftest.py builds it) on
the Slack double (signed deliveries), real Redis, and the Kubernetes double over real HTTP with
the orion-prod scenario plus a staging and a frozen namespace. Time is a `ManualClock` for the
bot (expiry, leases); the cluster runs in real time.

People: rita (responder: may request), apollo (commander role: a policy approver), cleo
(viewer, declares the incident so she is its commander: the policy lets every role run the
lifecycle here, but commanding gives no approval), otto (viewer: anyone else).

The helpers read the approval cards, the records and the cluster's writes through the harness.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from bot.policy.incidents import IncidentPolicy
from bot.policy.models import ALL_ACTIONS, REQUIRED_ROLES, Policy, RoleGrant
from bot.policy.models import Cluster as PolicyCluster
from bot.policy.remediation import RemediationPolicy, RemediationRule, SelfApproval
from bot.remediation.actions import default_remediations
from bot.remediation.store import Record, State
from bot.sandbox.doubles.kubernetes import Cluster, Timing, add_deployment, orion_prod
from tests.clock import ManualClock
from tests.harness import Builder, Harness, eventually, flatten

READS = ("pods", "describe", "events")
NS = "orion-prod"


def remediation_policy(**overrides: Any) -> RemediationPolicy:
    rule = RemediationRule(
        namespaces=("orion-*",),
        min_replicas=1,
        max_replicas=8,
        max_step=4,
        cooldown_minutes=5,
        self_approval=SelfApproval(severities=("P3",), namespaces=("orion-staging",)),
    )
    values: dict[str, Any] = {
        "enabled": True,
        "frozen_namespaces": ("orion-frozen",),
        "expiry_minutes": 15,
        "verify_timeout_s": 3,
        "actions": dict.fromkeys((r.name for r in default_remediations()), rule),
    }
    values.update(overrides)
    return RemediationPolicy(**values)


def make_policy(rita: str, apollo: str, cleo: str, otto: str, **overrides: Any) -> Policy:
    return Policy(
        roles={
            "viewer": RoleGrant(users=(cleo, otto), actions=READS),
            "responder": RoleGrant(users=(rita,), actions=READS),
            "commander": RoleGrant(users=(apollo,), actions=READS),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={
            "test": PolicyCluster(context="test", namespaces=("orion-*",), default_namespace=NS)
        },
        remediation=remediation_policy(**overrides),
        incidents=IncidentPolicy.open_to_all(REQUIRED_ROLES),
    )


def scenario() -> Cluster:
    """orion-prod, plus task-service in orion-staging and in the frozen orion-frozen."""
    cluster = Cluster(timing=Timing(rollout_step=0.01, pod_ready=0.01))
    orion_prod(cluster)
    add_deployment(cluster, "orion-staging", "task-service", replicas=2)
    add_deployment(cluster, "orion-frozen", "task-service", replicas=2)
    return cluster


async def remediation_world(build: Builder) -> Harness:
    build.people("rita", "apollo", "cleo", "otto").channel("room", "war-room")
    build.channel("broadcast", "incidents", members=["cleo"], bot_member=False)
    ids = build.ids
    return await (
        build.kubernetes(scenario(), reconcile_interval=0.01)
        .clock(ManualClock(datetime.now(UTC).replace(microsecond=0)))
        .policy(make_policy(ids["rita"], ids["apollo"], ids["cleo"], ids["otto"]))
        .playbooks(None)
        .deps(kube_timeout_s=1.0, kube_attempts=2, remediation_poll_s=0.02)
        .wait_for_jobs()
        .start()
    )


async def declare(w: Harness, user: str, text: str) -> tuple[str, str]:
    """`user` declares; everyone else joins the incident channel. (incident ID, channel)"""
    incident_id, channel = await w.declare(user, text)
    for person in (w.rita, w.apollo, w.otto):
        await w.app.services.slack.invite(channel, [person])
    return incident_id, channel


def approval_cards(w: Harness, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in w.slack.messages(channel, include_replies=True)
        if str(m.get("text", "")).startswith("🛠")
    ]


def approval_card(w: Harness, channel: str, index: int = -1) -> dict[str, Any]:
    cards = approval_cards(w, channel)
    assert cards, f"no remediation card in {channel}"
    return cards[index]


def approval_text(w: Harness, channel: str, index: int = -1) -> str:
    return flatten(approval_card(w, channel, index).get("blocks") or [])


async def card_shows(w: Harness, channel: str, fragment: str, limit_s: float = 10.0) -> None:
    """Wait until the card (its text or its buttons) shows `fragment`: the card is edited
    right after the record changes, so a test that saw the record must wait for it."""
    await eventually(
        lambda: fragment in str(approval_card(w, channel)),
        limit_s,
        f"{fragment!r} on the card; it shows: {approval_text(w, channel)}",
    )


async def click(w: Harness, user: str, channel: str, action_id: str, index: int = -1) -> None:
    card = approval_card(w, channel, index)
    await w.slack.click_button(user, channel, card["ts"], action_id)
    await w.settle()


async def record_of(w: Harness, remediation_id: str) -> Record:
    assert w.app.remediation is not None
    record = await w.app.remediation.records.get(remediation_id)
    assert record is not None
    return record


async def until_state(
    w: Harness, remediation_id: str, *states: State, limit_s: float = 10.0
) -> Record:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        record = await record_of(w, remediation_id)
        if record.state in states:
            return record
        assert asyncio.get_running_loop().time() < deadline, f"{record.id} is {record.state}"
        await asyncio.sleep(0.01)


def writes(w: Harness, verb: str = "patch", path: str = "") -> list[Any]:
    """Real (not dry-run) writes the cluster received."""
    return [r for r in w.kube.requests.find(verb, path) if r.query.get("dryRun") != "All"]


def deployment_of(w: Harness, name: str, namespace: str = NS) -> dict[str, Any]:
    return w.kube.cluster.require("apps/v1", "Deployment", namespace, name)


async def button_request(w: Harness, user: str, channel: str, value: dict[str, Any]) -> str:
    """A message with a `remediation.request` button (as another part of the bot posts),
    clicked by `user`; returns the message ts."""
    from bot.blockkit import REMEDIATION_REQUEST, button

    ts = await w.app.services.slack.post_message(
        channel,
        "Suggested fix",
        [{"type": "actions", "elements": [
            button("Restart", REMEDIATION_REQUEST, json.dumps(value))]}],
    )  # fmt: skip
    await w.slack.click_button(user, channel, ts, REMEDIATION_REQUEST)
    await w.settle()
    return ts
