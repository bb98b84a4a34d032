"""`query`, `health` and `db` against real protocols: Prometheus's HTTP API and health endpoints
served by aiohttp on 127.0.0.1, and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from aiohttp import web

from bot.policy.models import Database, HealthTarget, Prometheus
from tests.diagnostics.conftest import COMMANDER, RESPONDER, VIEWER, make_policy, make_rig
from tests.diagnostics.prometheus_api import prometheus_app, serve

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_query_latest_values_and_png_chart(
    kube_api, diag_store, http, prometheus_gateway
) -> None:
    state: dict[str, Any] = {}
    async with serve(prometheus_app(state)) as url:
        policy = make_policy(prometheus=Prometheus(url=url))
        gateway = prometheus_gateway(url, timeout_s=2)
        rig = make_rig(kube_api, diag_store, policy, prometheus=gateway, http=http)
        run = await rig.run(RESPONDER, "query", "error-rate --range 30 --service task-service")
    assert run.outcome == "ok", run.message
    assert run.result.headline[0].startswith("highest now: 7.2 % (service=task-service)")
    chart = run.result.files[0]
    assert chart.filename == "error-rate.png" and bytes(chart.content).startswith(b"\x89PNG")
    sent = state["calls"][0]
    assert 'service=~"task-service"' in sent["query"]
    assert float(sent["end"]) - float(sent["start"]) == 30 * 60


async def test_unknown_query_suggests_names(kube_api, diag_store, http) -> None:
    policy = make_policy(prometheus=Prometheus(url="http://127.0.0.1:9"))
    rig = make_rig(kube_api, diag_store, policy, http=http)
    run = await rig.run(RESPONDER, "query", "error-rat")
    assert run.outcome == "rejected" and "Did you mean `error-rate`?" in run.message


async def test_prometheus_down_retried_then_reported(
    kube_api, diag_store, http, prometheus_gateway
) -> None:
    state: dict[str, Any] = {"fail": 503}
    async with serve(prometheus_app(state)) as url:
        gateway = prometheus_gateway(url, timeout_s=2, attempts=3)
        rig = make_rig(kube_api, diag_store, make_policy(prometheus=Prometheus(url=url)),
                       prometheus=gateway)  # fmt: skip
        run = await rig.run(RESPONDER, "query", "p95-latency")
    assert run.outcome == "failed" and "Prometheus answered 503" in run.message
    assert len(state["calls"]) == 3


@pytest.mark.slow
async def test_prometheus_slow_times_out(kube_api, diag_store, http, prometheus_gateway) -> None:
    state: dict[str, Any] = {"delay": 1.0}
    async with serve(prometheus_app(state)) as url:
        gateway = prometheus_gateway(url, timeout_s=0.2, attempts=2)
        rig = make_rig(kube_api, diag_store, make_policy(prometheus=Prometheus(url=url)),
                       prometheus=gateway)  # fmt: skip
        run = await rig.run(RESPONDER, "query", "request-rate")
    assert run.outcome == "failed" and "did not answer within 0.2 s" in run.message


async def test_diagnose_includes_error_rate_and_survives_prometheus_down(
    kube_api, diag_store, http, prometheus_gateway
) -> None:
    state: dict[str, Any] = {}
    async with serve(prometheus_app(state)) as url:
        gateway = prometheus_gateway(url, timeout_s=2)
        rig = make_rig(kube_api, diag_store, make_policy(prometheus=Prometheus(url=url)),
                       prometheus=gateway)  # fmt: skip
        run = await rig.run(RESPONDER, "diagnose", "task-service")
        # The last hour of each signal, for this deployment (the stand-in's rises from 6.0).
        assert "error rate 6.6 %" in run.result.headline[-1]
        assert len(state["calls"]) == 2
        for call in state["calls"]:
            assert 'service=~"task-service"' in call["query"]
            assert float(call["end"]) - float(call["start"]) == 3600
    run = await rig.run(RESPONDER, "diagnose", "task-service")  # Prometheus is gone now
    assert run.outcome == "partial" and "3/5 pods ready" in run.result.headline[-1]
    assert any(
        f.startswith("query error-rate: Prometheus could not be reached")
        for f in run.result.failures
    )


def health_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "checks": {"db": "ok", "cache": {"status": "fail"}}}
        )

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({"status": "ok"})

    async def good(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/slow", slow)
    app.router.add_get("/good", good)
    return app


@pytest.mark.slow
async def test_health_status_latency_checks_and_timeouts(kube_api, diag_store, http) -> None:
    async with serve(health_app()) as url:
        targets = {
            "api": HealthTarget(url=f"{url}/healthz"),
            "slow": HealthTarget(url=f"{url}/slow", timeout_s=0.2),
            "good": HealthTarget(url=f"{url}/good"),
        }
        rig = make_rig(kube_api, diag_store, make_policy(health=targets), http=http)
        run = await rig.run(VIEWER, "health", "all")
        single = await rig.run(VIEWER, "health", "good")
        unknown = await rig.run(VIEWER, "health", "goood")
    text = run.result.sections[0].text
    assert run.result.headline[0].startswith("1/3 healthy: api 200, slow no answer in 0.2 s")
    assert "cache=fail" in text and "db=ok" in text and " ms" in text
    assert single.result.headline[0] == "1/1 healthy"
    assert "Did you mean `good`?" in unknown.message


@pytest.fixture
async def pg_load(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A session idle in transaction and a query that has run for over 0.6 s (and runs until the
    test ends), in the real PostgreSQL."""
    tag = f"fireline_{uuid.uuid4().hex[:8]}"
    idle = await psycopg.AsyncConnection.connect(PG_DSN, application_name=tag)
    await idle.execute(f"SELECT '{tag}'")  # opens a transaction and leaves it idle
    busy = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True, application_name=tag)
    watch = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
    sleeper = asyncio.ensure_future(busy.execute(f"SELECT pg_sleep(300), '{tag}'"))
    # Wait until PostgreSQL shows it running longer than the test's 0.5 s threshold, however
    # long the machine took to send it; it is cancelled below, not left to run out.
    running_long = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'active'"
        " AND clock_timestamp() - query_start > interval '0.6 seconds'"
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not await (await watch.execute(running_long, (tag,))).fetchone():
            assert asyncio.get_running_loop().time() < deadline, "the long query did not start"
            await asyncio.sleep(0.05)
        monkeypatch.setenv("FIRELINE_TEST_ORDERS_DSN", PG_DSN)
        yield tag
    finally:
        await watch.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (tag,),
        )
        with contextlib.suppress(BaseException):
            await sleeper
        for conn in (idle, busy, watch):
            with contextlib.suppress(Exception):
                await conn.close()


async def test_db_sessions_long_queries_and_idle_transactions(
    kube_api, diag_store, pg_load
) -> None:
    dbs = {"orders": Database(dsn_env="FIRELINE_TEST_ORDERS_DSN", long_query_s=0.5)}
    rig = make_rig(kube_api, diag_store, make_policy(databases=dbs))
    run = await rig.run(COMMANDER, "db", "orders")
    assert run.outcome == "ok", run.message
    text = "\n".join([*run.result.headline, *(s.text for s in run.result.sections)])
    assert "queries > 0.5 s" in run.result.headline[0]
    long_running = next(s for s in run.result.sections if s.title.startswith("Running >"))
    assert f"pg_sleep(300), '{pg_load}'" in long_running.text
    idle = next(s for s in run.result.sections if s.title == "Idle in transaction")
    assert f"SELECT '{pg_load}'" in idle.text
    assert re.match(r"\d+/\d+ connections \(\d+%\)", run.result.headline[0])
    assert "idle in transaction" in text


async def test_db_is_read_only_and_unreachable_db_is_reported(
    kube_api, diag_store, monkeypatch
) -> None:
    from bot.gateways.postgres import DatabaseGateway

    conn_dsn = PG_DSN
    gateway = DatabaseGateway()
    findings = await gateway.inspect(conn_dsn, statement_timeout_ms=1000, long_query_s=30)
    assert findings.max_connections > 0 and findings.total >= 1
    monkeypatch.setenv("FIRELINE_TEST_BAD_DSN", "host=127.0.0.1 port=1 dbname=x connect_timeout=1")
    dbs = {"gone": Database(dsn_env="FIRELINE_TEST_BAD_DSN")}
    rig = make_rig(kube_api, diag_store, make_policy(databases=dbs))
    run = await rig.run(COMMANDER, "db", "gone")
    assert run.outcome == "failed" and "could not be reached" in run.message
    denied = await rig.run(RESPONDER, "db", "gone")
    assert denied.outcome == "denied"


@pytest.mark.slow
async def test_database_that_accepts_but_never_answers_times_out() -> None:
    from bot.errors import Unavailable
    from bot.gateways.postgres import DatabaseGateway

    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accept, then say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gateway = DatabaseGateway(connect_timeout_s=2, attempts=2)
        started = asyncio.get_running_loop().time()
        with pytest.raises(Unavailable, match="could not be reached"):
            await gateway.inspect(
                f"host=127.0.0.1 port={port} dbname=x", statement_timeout_ms=500, long_query_s=1
            )
        assert asyncio.get_running_loop().time() - started < 6  # 2 attempts × libpq minimum 2 s
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_health_5xx_is_retried_once(kube_api, diag_store, http) -> None:
    hits = []

    async def flaky(request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({"status": "down"}, status=503)

    app = web.Application()
    app.router.add_get("/h", flaky)
    async with serve(app) as url:
        policy = make_policy(health={"x": HealthTarget(url=f"{url}/h")})
        rig = make_rig(kube_api, diag_store, policy, http=http)
        run = await rig.run(VIEWER, "health", "x")
    assert len(hits) == 2 and run.result.headline[0] == "0/1 healthy: x 503"


async def test_targets_are_granted_per_role_through_the_whole_path(
    kube_api, diag_store, http, prometheus_gateway
) -> None:
    """A responder whose role lists no queries is denied `query` naming the role field, and
    `diagnose` leaves its error rate out (saying so) without asking Prometheus."""
    state: dict[str, Any] = {}
    async with serve(prometheus_app(state)) as url:
        base = make_policy(prometheus=Prometheus(url=url))
        roles = dict(base.roles)
        roles["responder"] = roles["responder"].model_copy(update={"queries": ()})
        policy = base.model_copy(update={"roles": roles})
        gateway = prometheus_gateway(url, timeout_s=2)
        rig = make_rig(kube_api, diag_store, policy, prometheus=gateway, http=http)
        denied = await rig.run(RESPONDER, "query", "error-rate")
        diagnosed = await rig.run(RESPONDER, "diagnose", "task-service")
        allowed = await rig.run(COMMANDER, "query", "error-rate")
    assert denied.outcome == "denied"
    assert denied.message.startswith(
        "🚫 Your roles (responder) do not reach query `error-rate`; commander or admin would"
    )
    assert "your role's `queries`" in denied.message
    assert "query: not included (your roles do not reach query `error-rate`)" in (
        diagnosed.result.failures
    )
    assert not any("error rate" in line for line in diagnosed.result.headline)
    assert allowed.outcome == "ok"
    assert len(state["calls"]) == 1  # only the commander's query reached Prometheus
    audit = await diag_store.audit_log()
    assert [a["outcome"] for a in audit if a["action"] == "query"][-2:] in (
        ["denied", "ok"],
        ["ok", "denied"],
    )
