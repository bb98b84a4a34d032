"""A running Fireline with the shipped playbooks, the Slack double, the Kubernetes double's
`orion-prod` scenario and real Redis; people with different roles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.app import Deps, Fireline, create_app
from bot.diagnostics.actions import default_actions
from bot.playbooks.loader import load_playbooks, params_models
from bot.playbooks.models import Example, Playbooks
from bot.policy.alerts import AlertPolicy, AlertRoute
from bot.policy.models import Cluster, Policy, RoleGrant
from bot.policy.remediation import RemediationPolicy
from bot.remediation.actions import default_remediations
from bot.sandbox.doubles.kubernetes import Cluster as KubeCluster
from bot.sandbox.doubles.kubernetes import (
    KubernetesDouble,
    ManualClock,
    Timing,
    api_client,
    orion_prod,
)
from bot.sandbox.doubles.slack import SlackDouble
from bot.settings import DEFAULT_PLAYBOOKS_DIR
from bot.store.server import RedisHandle
from tests.e2e.harness import SIGNING_SECRET, WEBHOOK_TOKEN, eventually, settings_for

SHIPPED = load_playbooks(
    DEFAULT_PLAYBOOKS_DIR, params_models(default_actions(), default_remediations())
)
READS = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints")


@dataclass
class World:
    slack: SlackDouble
    app: Fireline
    oncall: str  # responder
    viewer: str  # pods and events only
    outsider: str  # no role at all
    room: str
    alerts: str
    critical: str  # routed: severity=critical
    payments: str  # routed: team=payments

    async def type(self, user: str, text: str, channel: str | None = None) -> Any:
        response = await self.slack.slash_command(user, channel or self.room, text)
        assert await self.app.drain(10.0)
        return response

    def told(self, user: str) -> list[str]:
        return [e.text or "" for e in self.slack.ephemerals(user_id=user)]

    async def told_eventually(self, user: str, fragment: str) -> str:
        return await eventually(
            lambda: next((t for t in self.told(user) if fragment in t), None),
            10.0,
            f"{fragment!r} told to {user}; told: {self.told(user)}",
        )

    async def webhook(self, body: dict[str, Any]) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.app.url}/webhooks/alertmanager",
                data=json.dumps(body),
                headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            ) as response,
        ):
            return response.status

    async def alerts_done(self) -> None:
        """Every accepted notification shown, inbox and outbox (playbook runs follow on the
        scheduler)."""
        store = self.app.services.alerts.alerts
        for _ in range(500):
            if not await store.backlog() and not await self.app.outbox.waiting():
                break
            await asyncio.sleep(0.02)
        assert await self.app.drain(10.0)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return self.slack.thread(channel, ts)[1:]


def notification(example: Example, group_key: str = "", **extra_labels: str) -> dict[str, Any]:
    """An Alertmanager v4 notification carrying a playbook's example alert."""
    labels = {**example.all_labels, **extra_labels}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": example.annotations,
        "startsAt": "2026-11-22T18:45:12Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"fp-{abs(hash(tuple(sorted(labels.items())))):x}",
    }
    return {
        "version": "4",
        "groupKey": group_key or f'{{}}:{{alertname="{example.alertname}"}}',
        "status": "firing",
        "receiver": "fireline",
        "alerts": [alert],
        "groupLabels": {"alertname": example.alertname},
        "commonLabels": labels,
        "commonAnnotations": example.annotations,
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
    }


def world_policy(oncall: str, viewer: str) -> Policy:
    deep = (*READS, "logs", "diagnose", "query", "health", "db")
    return Policy(
        roles={
            "viewer": RoleGrant(users=(viewer,), actions=("pods", "events")),
            "responder": RoleGrant(users=(oncall,), actions=deep, namespaces=("orion-*",)),
            "commander": RoleGrant(actions=deep),
            "admin": RoleGrant(actions=("*",)),
        },
        clusters={
            "test": Cluster(context="test", namespaces=("orion-*",), default_namespace="orion-prod")
        },
        alerts=AlertPolicy(run_as="responder", silence_roles=("responder",), routes=()),
    )


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


@pytest.fixture
async def make_world(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[Any]:
    started: list[tuple[Fireline, KubernetesDouble, Any]] = []
    people: dict[str, str] = {}

    async def make(
        *,
        alertmanager_url: str | None = None,
        instance: str = "replica-a",
        playbooks: Playbooks = SHIPPED,
        http_port: int = 0,
        remediation: RemediationPolicy | None = None,
    ) -> World:
        if not people:
            people.update(
                oncall=slack.add_user("olive"), viewer=slack.add_user("victor"),
                outsider=slack.add_user("otto"),
            )  # fmt: skip
            members = list(people.values())
            people.update(
                room=slack.add_channel("war-room", members=members),
                alerts=slack.add_channel("alerts", members=members),
                critical=slack.add_channel("alerts-critical", members=members),
                payments=slack.add_channel("alerts-payments", members=members),
                broadcast=slack.add_channel("incidents", members=members),
            )
        cluster = KubeCluster(
            ManualClock(datetime.now(UTC)), timing=Timing(rollout_step=0.02, pod_ready=0.02)
        )
        orion_prod(cluster)
        double = KubernetesDouble(cluster)
        double.start()
        api = api_client(double.base_url)
        policy = world_policy(people["oncall"], people["viewer"])
        routes = (
            AlertRoute(match={"severity": "critical"}, channel=people["critical"]),
            AlertRoute(
                match={"team": "payments", "namespace": "pay-*"}, channel=people["payments"]
            ),
        )
        policy = policy.model_copy(
            update={"alerts": policy.alerts.model_copy(update={"routes": routes})}
        )
        if remediation is not None:
            policy = policy.model_copy(update={"remediation": remediation})
        deps = Deps(redis=redis_handle, policy=policy, kube_clients={"test": api},
                    playbooks=playbooks)  # fmt: skip
        overrides: dict[str, Any] = {
            "redis_prefix": prefix,
            "alerts_channel": people["alerts"],
            "webhook_token": WEBHOOK_TOKEN,
            "instance_name": instance,
            "http_port": http_port,
        }
        if alertmanager_url:
            overrides["alertmanager_url"] = alertmanager_url
        app = create_app(settings_for(slack, people["broadcast"], **overrides), deps)
        await app.start()
        slack.request_url = f"{app.url}/slack/events"
        started.append((app, double, api))
        return World(
            slack, app, people["oncall"], people["viewer"], people["outsider"], people["room"],
            people["alerts"], people["critical"], people["payments"],
        )  # fmt: skip

    yield make
    for app, double, api in started:
        await app.stop()
        api.close()
        double.stop()
