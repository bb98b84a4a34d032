"""A running bot for remediation tests: the Slack double (signed deliveries), real Redis, and the
Kubernetes double over real HTTP with the orion-prod scenario plus a staging and a frozen
namespace. Time is a `ManualClock` for the bot (expiry, leases); the cluster runs in real time.

People: rita (responder: may request), apollo (commander role: a policy approver), cleo
(viewer, declares the incident so she is its commander: the policy lets every role run the
lifecycle here, but commanding gives no approval), otto (viewer: anyone else).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import Deps, Fireline, create_app
from bot.policy.incidents import IncidentPolicy
from bot.policy.models import ALL_ACTIONS, REQUIRED_ROLES, Policy, RoleGrant
from bot.policy.models import Cluster as PolicyCluster
from bot.policy.remediation import RemediationPolicy, RemediationRule, SelfApproval
from bot.remediation.actions import default_remediations
from bot.remediation.store import Record, State
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    Timing,
    add_deployment,
    api_client,
    orion_prod,
)
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.clock import ManualClock
from tests.e2e.harness import _flatten, eventually, settings_for

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


@dataclass
class World:
    slack: SlackDouble
    kube: KubernetesDouble
    redis: RedisHandle
    prefix: str
    clock: ManualClock
    rita: str
    apollo: str
    cleo: str
    otto: str
    room: str
    broadcast: str
    policy: Policy
    apps: list[Fireline] = field(default_factory=list)

    @property
    def app(self) -> Fireline:
        return self.apps[-1]

    async def start(
        self, policy: Policy | None = None, remediations: tuple[Any, ...] | None = None
    ) -> Fireline:
        deps = Deps(
            redis=self.redis,
            policy=policy or self.policy,
            clock=self.clock,
            kube_clients={"test": api_client(self.kube.base_url)},
            kube_timeout_s=1.0,
            kube_attempts=2,
            remediation_poll_s=0.02,
            remediations=remediations if remediations is not None else default_remediations(),
        )
        settings = settings_for(self.slack, self.broadcast, redis_prefix=self.prefix)
        app = create_app(settings, deps)
        await app.start()
        self.slack.request_url = f"{app.url}/slack/events"
        self.apps.append(app)
        return app

    async def settle(self) -> None:
        """Wait until the bot is idle: acked work done, due jobs run."""
        store = self.app.services.store
        for _ in range(1000):
            await asyncio.sleep(0.005)
            assert await self.app.drain(10.0)
            due = await store.redis.zrangebyscore(
                store.keys.jobs_due, "-inf", self.clock.now().timestamp()
            )
            leased = await store.redis.zcard(store.keys.jobs_leased)
            if not due and not leased and not self.app.scheduler.busy:
                return
        raise AssertionError(
            f"the bot did not become idle: due {due}, leased {leased}, "
            f"scheduler busy {self.app.scheduler.busy}"
        )

    async def type(self, user: str, text: str, channel: str | None = None) -> Any:
        response = await self.slack.slash_command(user, channel or self.room, text)
        await self.settle()
        return response

    async def declare(self, user: str, text: str) -> tuple[str, str]:
        await self.type(user, f"declare {text}")
        channel = await eventually(
            lambda: next(
                (c.id for c in self.slack.ws.channels.values() if c.name.startswith("inc-")),
                None,
            )
        )
        incident = await self.app.services.store.find_by_channel(channel)
        assert incident is not None
        for person in (self.rita, self.apollo, self.otto):
            await self.app.services.slack.invite(channel, [person])
        return incident.id, channel

    def cards(self, channel: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.slack.messages(channel, include_replies=True)
            if str(m.get("text", "")).startswith("🛠")
        ]

    def card(self, channel: str, index: int = -1) -> dict[str, Any]:
        cards = self.cards(channel)
        assert cards, f"no remediation card in {channel}"
        return cards[index]

    def card_text(self, channel: str, index: int = -1) -> str:
        return _flatten(self.card(channel, index).get("blocks") or [])

    async def card_shows(self, channel: str, fragment: str, limit_s: float = 10.0) -> None:
        """Wait until the card (its text or its buttons) shows `fragment`: the card is edited
        right after the record changes, so a test that saw the record must wait for it."""
        await eventually(
            lambda: fragment in str(self.card(channel)),
            limit_s,
            f"{fragment!r} on the card; it shows: {self.card_text(channel)}",
        )

    async def click(self, user: str, channel: str, action_id: str, index: int = -1) -> None:
        card = self.card(channel, index)
        await self.slack.click_button(user, channel, card["ts"], action_id)
        await self.settle()

    async def record(self, remediation_id: str) -> Record:
        assert self.app.remediation is not None
        record = await self.app.remediation.records.get(remediation_id)
        assert record is not None
        return record

    async def until_state(
        self, remediation_id: str, *states: State, limit_s: float = 10.0
    ) -> Record:
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            record = await self.record(remediation_id)
            if record.state in states:
                return record
            assert asyncio.get_running_loop().time() < deadline, f"{record.id} is {record.state}"
            await asyncio.sleep(0.01)

    def told(self, user: str) -> list[str]:
        return [
            " ".join([e.text or "", _flatten(e.blocks or [])])
            for e in self.slack.ephemerals(user_id=user)
        ]

    async def told_about(self, user: str, fragment: str) -> str:
        return await eventually(
            lambda: next((t for t in self.told(user) if fragment in t), None),
            5.0,
            f"{fragment!r} shown to {user}; shown: {self.told(user)}",
        )

    def writes(self, verb: str = "patch", path: str = "") -> list[Any]:
        """Real (not dry-run) writes the cluster received."""
        return [r for r in self.kube.requests.find(verb, path) if r.query.get("dryRun") != "All"]

    def deployment(self, name: str, namespace: str = NS) -> dict[str, Any]:
        return self.kube.cluster.require("apps/v1", "Deployment", namespace, name)

    async def button_request(self, user: str, channel: str, value: dict[str, Any]) -> str:
        """A message with a `remediation.request` button (as another part of the bot posts),
        clicked by `user`; returns the message ts."""
        from bot.blockkit import REMEDIATION_REQUEST, button

        ts = await self.app.services.slack.post_message(
            channel,
            "Suggested fix",
            [{"type": "actions", "elements": [
                button("Restart", REMEDIATION_REQUEST, json.dumps(value))]}],
        )  # fmt: skip
        await self.slack.click_button(user, channel, ts, REMEDIATION_REQUEST)
        await self.settle()
        return ts


@pytest.fixture(name="kube_double")
def kube_double_fixture() -> Any:
    cluster = Cluster(timing=Timing(rollout_step=0.01, pod_ready=0.01))
    orion_prod(cluster)
    add_deployment(cluster, "orion-staging", "task-service", replicas=2)
    add_deployment(cluster, "orion-frozen", "task-service", replicas=2)
    with KubernetesDouble(cluster, reconcile_interval=0.01) as server:
        yield server


@pytest.fixture(name="world")
async def world_fixture(
    slack: SlackDouble, kube_double: KubernetesDouble, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[World]:
    rita, apollo, cleo, otto = (slack.add_user(n) for n in ("rita", "apollo", "cleo", "otto"))
    room = slack.add_channel("war-room", members=[rita, apollo, cleo, otto])
    broadcast = slack.add_channel("incidents", members=[cleo], bot_member=False)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    w = World(
        slack, kube_double, redis_handle, prefix, clock, rita, apollo, cleo, otto, room, broadcast,
        make_policy(rita, apollo, cleo, otto),
    )  # fmt: skip
    await w.start()
    yield w
    for app in w.apps:
        await app.stop()
