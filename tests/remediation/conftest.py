"""Fixtures for remediation: the Kubernetes double with the orion-prod scenario (real HTTP,
every served object schema-checked) and a gateway to it; the running bot of world.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bot.gateways.kubernetes import KubeGateway
from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, Timing, orion_prod
from tests.harness import Builder, Harness
from tests.kube import kube_gateway
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
    async with kube_gateway(double) as gateway:
        yield gateway


@pytest.fixture
async def world(build: Callable[..., Builder]) -> Harness:
    return await remediation_world(build())
