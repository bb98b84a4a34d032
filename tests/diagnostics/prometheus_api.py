"""A local server speaking Prometheus's HTTP API (`/api/v1/query_range`, `/api/v1/query`) on
127.0.0.1, and `serve()` for any aiohttp app (health endpoints too). `corpus_app` answers for
the diagnosis corpus (bot/sandbox/doubles/kubernetes/corpus.py).

`query_range` answers two series over exactly the range and step asked: `task-service` from 6.0
and `orion-api` from 0.2, each rising 0.01 a step. `state` records every call and injects
failures (`fail`: a status), delays (`delay`: seconds) and PromQL errors (a query with `bad`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web

from bot.sandbox.doubles.kubernetes.corpus import Scenario, value_at
from tests.diagnostics.scenario import NOW

SERIES = (("task-service", 6.0), ("orion-api", 0.2))


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def prometheus_app(state: dict[str, Any]) -> web.Application:
    async def query_range(request: web.Request) -> web.Response:
        state.setdefault("calls", []).append(dict(request.query))
        if state.get("fail"):
            return web.json_response({"status": "error"}, status=state["fail"])
        if state.get("delay"):
            await asyncio.sleep(state["delay"])
        if "bad" in request.query["query"]:
            return web.json_response(
                {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"},
                status=400,
            )
        start, end = float(request.query["start"]), float(request.query["end"])
        step = float(request.query["step"])
        n = int((end - start) / step) + 1
        result = [
            {"metric": {"service": svc}, "values": [[start + i * step, str(base + i * 0.01)]
                                                     for i in range(n)]}
            for svc, base in SERIES
        ]  # fmt: skip
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    async def query(request: web.Request) -> web.Response:
        sample = {"metric": {"service": "task-service"}, "value": [NOW.timestamp(), "7.2"]}
        data = {"resultType": "vector", "result": [sample]}
        return web.json_response({"status": "success", "data": data})

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    app.router.add_get("/api/v1/query", query)
    return app


SERVICE = re.compile(r'service=~"([^"]*)"')


def signal_kind(promql: str) -> str | None:
    """Which of `diagnose`'s queries a PromQL expression is (the policy's default queries)."""
    if "histogram_quantile" in promql:
        return "p95-latency"
    if 'code=~"5.."' in promql:
        return "error-rate"
    return None


def corpus_app(
    scenarios: Iterable[Scenario], state: dict[str, Any] | None = None, latency_s: float = 0.0
) -> web.Application:
    """Prometheus's range API answering for the corpus: each scenario's deployment is a
    `service`, its `signals` the error rate and the p95 latency, as steps before `end`."""
    by_service = {s.deployment: s for s in scenarios}
    state = state if state is not None else {}

    async def query_range(request: web.Request) -> web.Response:
        if latency_s:
            await asyncio.sleep(latency_s)
        promql = request.query["query"]
        state.setdefault("calls", []).append(promql)
        start, end = float(request.query["start"]), float(request.query["end"])
        step = float(request.query["step"])
        kind, service = signal_kind(promql), SERVICE.search(promql)
        scenario = by_service.get(service.group(1)) if service else None
        steps = scenario.signals.get(kind or "") if scenario else None
        result = []
        if steps and scenario is not None:
            n = int((end - start) / step) + 1
            values = [
                [start + i * step, str(value_at(steps, (end - start - i * step) / 60))]
                for i in range(n)
            ]
            result.append({"metric": {"service": scenario.deployment}, "values": values})
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    return app
