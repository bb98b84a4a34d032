"""Fixtures for the diagnostics: a DiagnosticsService on real Redis, with recording Slack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bot.diagnostics.actions import default_actions
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.policy.authorizer import Authorizer
from bot.policy.models import Cluster, Policy, RoleGrant
from bot.sandbox.doubles.kubernetes import KubernetesDouble, api_client
from bot.store.store import Store
from tests.diagnostics.scenario import (
    NOW,
    new_cluster,
    task_service_incident,
    task_service_pods,
)
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator

ALL = ("*",)


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


VIEWER, RESPONDER, COMMANDER, ADMIN = "UVIEWER1", "URESP001", "UCMDR001", "UADMIN01"


def make_policy(**overrides: Any) -> Policy:
    reads = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints", "health")
    # Every role reaches every health target, database and query here; the policy matrix in
    # test_policy.py narrows them.
    reach: dict[str, Any] = {"health": ALL, "databases": ALL, "queries": ALL}
    base: dict[str, Any] = {
        "roles": {
            "viewer": RoleGrant(users=(VIEWER,), actions=reads, **reach),
            "responder": RoleGrant(
                users=(RESPONDER,), groups=("S0ONCALL",),
                actions=(*reads, "logs", "query", "diagnose"), namespaces=("orion-*",), **reach,
            ),
            "commander": RoleGrant(
                users=(COMMANDER,), actions=(*reads, "logs", "query", "diagnose", "db"), **reach
            ),
            "admin": RoleGrant(users=(ADMIN,), actions=ALL, **reach),
        },
        "clusters": {
            "test": Cluster(
                context="test", namespaces=("orion-*", "kube-system"),
                default_namespace="orion-prod",
            )
        },
    }  # fmt: skip
    base.update(overrides)
    return Policy(**base)


@dataclass
class RecordingSlack:
    """Stands in for SlackGateway in service-level tests; fails loudly on anything unexpected."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_calls: int = 0

    async def post_message(self, channel: str, text: str, blocks: Any = None, **_: Any) -> str:
        self.posts.append({"channel": channel, "text": text, "blocks": blocks})
        return f"1700000000.{len(self.posts):06d}"

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Any = None) -> None:
        self.ephemerals.append({"channel": channel, "user": user, "text": text, "blocks": blocks})

    async def upload_file(self, channel, filename, content, title, comment, *, thread_ts=None):
        self.files.append({"channel": channel, "filename": filename, "content": content,
                           "thread_ts": thread_ts})  # fmt: skip

    async def usergroup_members(self, group: str) -> list[str]:
        self.group_calls += 1
        return self.groups.get(group, [])

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Slack call {name}")


@pytest.fixture
def kube_api(validator: SchemaValidator) -> Iterator[KubernetesDouble]:
    """The Kubernetes double serving `task_service_incident`."""
    cluster = new_cluster()
    task_service_incident(cluster)
    with KubernetesDouble(cluster, on_serve=validator) as double:
        yield double


@pytest.fixture
async def diag_store(redis_server: Redis, prefix: str) -> AsyncIterator[Store]:
    yield Store(redis_server, prefix=prefix)
    async for key in redis_server.scan_iter(match=f"{prefix}*", count=500):
        await redis_server.delete(key)


@dataclass
class Rig:
    service: DiagnosticsService
    slack: RecordingSlack
    store: Store
    kube: KubernetesDouble
    clock: FrozenClock

    @property
    def pods(self) -> list[str]:
        """task-service's pods, the two failing ones first."""
        return task_service_pods(self.kube.cluster)

    def action(self, name: str) -> Any:
        return self.service.actions[name]

    async def run(self, user: str, name: str, text: str = "", incident: Any = None) -> Any:
        action = self.action(name)
        return await self.service.run(action, action.parse(text), user=user, incident=incident)


_GATEWAYS: list[KubeGateway] = []
"""The gateways `make_rig` built in this test, closed when it ends (`close_gateways`)."""


@pytest.fixture(autouse=True)
async def close_gateways() -> AsyncIterator[None]:
    yield
    while _GATEWAYS:
        await _GATEWAYS.pop().aclose()


def make_rig(
    kube_api: KubernetesDouble,
    store: Store,
    policy: Policy | None = None,
    *,
    prometheus: PrometheusGateway | None = None,
    http: httpx.AsyncClient | None = None,
    timeout_s: float = 5.0,
    attempts: int = 2,
) -> Rig:
    slack = RecordingSlack()
    clock = FrozenClock(NOW)
    policy = policy or make_policy()
    client = api_client(kube_api.base_url)
    gateway = KubeGateway(client, attempts=attempts, backoff_s=0.01, timeout_s=2)
    _GATEWAYS.append(gateway)
    service = DiagnosticsService(
        default_actions(),
        Authorizer(policy, slack.usergroup_members),
        store,
        slack,  # type: ignore[arg-type]
        clock,
        Gateways(
            kube=lambda _name: gateway,
            prometheus=prometheus,
            health=HealthChecker(http or httpx.AsyncClient()),
            databases=DatabaseGateway(),
        ),
        timeout_s=timeout_s,
    )
    return Rig(service, slack, store, kube_api, clock)


@pytest.fixture
def rig(kube_api: KubernetesDouble, diag_store: Store) -> Rig:
    return make_rig(kube_api, diag_store)
