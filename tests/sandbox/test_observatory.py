"""The sandbox's simulated Prometheus and Alertmanager over real HTTP, through Fireline's own
gateways (what `query`, `diagnose` and Silence 1 h call), on the living cluster and a manual
clock: Prometheus's JSON shapes and errors, honest labels, silences validated as Alertmanager
validates them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.gateways.alertmanager import AlertmanagerGateway, SilenceRejected
from bot.gateways.prometheus import QueryRejected
from bot.policy.models import default_queries
from bot.sandbox.clock import ScaledClock
from bot.sandbox.doubles.kubernetes import Cluster, ManualClock, Timing
from bot.sandbox.doubles.kubernetes.story import living_orion_prod
from bot.sandbox.observatory import Observatory
from tests.conftest import MakeGateway

QUERIES = default_queries()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def observatory(clock: ManualClock, tmp_path: Path) -> AsyncIterator[Observatory]:
    cluster = living_orion_prod(Cluster(clock, timing=Timing(rollout_step=5, pod_ready=8)))
    found = Observatory(cluster, ScaledClock(1.0), tmp_path, real_alertmanager=False)
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def promql(name: str, service: str = ".*") -> str:
    return QUERIES[name].promql.replace("$service", service)


async def test_named_queries_answer_in_prometheus_s_shape_labelled_simulated(
    observatory: Observatory,
    http: httpx.AsyncClient,
    clock: ManualClock,
    prometheus_gateway: MakeGateway,
) -> None:
    gateway = prometheus_gateway(observatory.url, timeout_s=5)
    now = clock.now()
    series = await gateway.query_range(promql("error-rate"), now - timedelta(minutes=60), now, 30.0)
    by_service = {s.labels["service"]: s for s in series}
    assert all(s.labels["simulated"] == "true" for s in series)
    checkout = by_service["checkout"]
    assert len(checkout.points) == 121
    assert checkout.points[0][1] == 0.0 and checkout.last is not None and checkout.last > 50
    assert "payments" not in by_service  # no pod serves it: no requests, no series

    [one] = await gateway.query(promql("request-rate", "orders-api"), now)
    assert one.labels == {"service": "orders-api", "simulated": "true"} and one.last
    memory = await gateway.query(promql("memory-trend", "task-service"), now)
    assert len(memory) == 3 and all(s.labels["pod"].startswith("task-service-") for s in memory)

    raw = await http.get(f"{observatory.url}/api/v1/query", params={"query": promql("p95-latency")})
    body = raw.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    assert {"metric", "value"} == set(body["data"]["result"][0])


async def test_anything_but_the_named_queries_is_refused_as_prometheus_refuses(
    observatory: Observatory,
    http: httpx.AsyncClient,
    clock: ManualClock,
    prometheus_gateway: MakeGateway,
) -> None:
    gateway = prometheus_gateway(observatory.url, timeout_s=5)
    with pytest.raises(QueryRejected, match="only the sandbox policy's named queries"):
        await gateway.query("up", clock.now())
    now = clock.now().timestamp()
    too_fine = await http.get(
        f"{observatory.url}/api/v1/query_range",
        params={"query": promql("error-rate"), "start": now - 86400, "end": now, "step": 1},
    )
    assert too_fine.status_code == 400 and too_fine.json()["errorType"] == "bad_data"
    page = await http.get(f"{observatory.url}/graph", params={"g0.expr": "<b>HighErrorRate</b>"})
    assert "This is not a Prometheus server" in page.text
    assert "&lt;b&gt;HighErrorRate&lt;/b&gt;" in page.text and "<b>High" not in page.text


async def test_silences_are_kept_and_validated_by_the_simulated_alertmanager(
    observatory: Observatory, http: httpx.AsyncClient
) -> None:
    gateway = AlertmanagerGateway(http, observatory.alertmanager_url)
    now = observatory.clock.now()
    silence_id = await gateway.create_silence(
        {"alertname": "HighErrorRate", "service": "checkout"},
        starts=now,
        ends=now + timedelta(hours=1),
        created_by="riley",
        comment="rolling back",
    )
    [kept] = await gateway.silences()
    assert kept["id"] == silence_id and kept["status"]["state"] == "active"
    with pytest.raises(SilenceRejected, match="in the past"):
        await gateway.create_silence(
            {"alertname": "x"},
            starts=now - timedelta(hours=2),
            ends=now - timedelta(hours=1),
            created_by="riley",
            comment="",
        )
    page = await http.get(observatory.alertmanager_url)
    assert "This is not Alertmanager" in page.text and silence_id in page.text
