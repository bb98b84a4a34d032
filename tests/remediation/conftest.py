"""Fixtures for remediation: the Kubernetes double with the orion-prod scenario (real HTTP,
every served object schema-checked) and a gateway to it; the running bot of world.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bot.gateways.kubernetes import KubeGateway
from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, Timing, api_client, orion_prod
from tests.harness import Builder, Harness
from tests.remediation.world import remediation_world
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator


@pytest.fixture
def double(validator: SchemaValidator) -> Iterator[KubernetesDouble]:
    cluster = Cluster(timing=Timing(rollout_step=0.01, pod_ready=0.01))
    orion_prod(cluster)
    with KubernetesDouble(cluster, on_serve=validator, reconcile_interval=0.01) as server:
        yield server


@pytest.fixture
async def gateway(double: KubernetesDouble) -> AsyncIterator[KubeGateway]:
    api = api_client(double.base_url)
    gateway = KubeGateway(api, attempts=2, backoff_s=0.01, timeout_s=2.0)
    yield gateway
    await gateway.aclose()
    api.close()  # type: ignore[no-untyped-call]  # kubernetes leaves it untyped


@pytest.fixture
async def world(build: Callable[..., Builder]) -> Harness:
    return await remediation_world(build())
