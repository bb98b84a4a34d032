"""A `KubeGateway` on a running Kubernetes double, as the tests that read through the bot's
gateway make it: two attempts, a short backoff, and closed (its session and the client's pool)
when the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.gateways.kubernetes import KubeGateway
from bot.sandbox.doubles.kubernetes import KubernetesDouble, api_client


@asynccontextmanager
async def kube_gateway(
    double: KubernetesDouble, timeout_s: float = 2.0
) -> AsyncIterator[KubeGateway]:
    api = api_client(double.base_url)
    gateway = KubeGateway(api, attempts=2, backoff_s=0.01, timeout_s=timeout_s)
    try:
        yield gateway
    finally:
        await gateway.aclose()
        api.close()  # type: ignore[no-untyped-call]  # kubernetes leaves it untyped
