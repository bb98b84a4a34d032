"""The Prometheus gateway's reads (aiohttp, on the loop): a query reaches a real Prometheus as
written (quotes, braces, `+`, regex matchers), a query it rejects says why, an answer that is
not the API's is told apart from a rejected query, and the environment's proxy settings are
honoured as they were through httpx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.errors import Unavailable
from bot.gateways.prometheus import QueryRejected
from tests.conftest import MakeGateway
from tests.diagnostics.prometheus_api import prometheus_app, serve
from tests.ops.test_rules import running_prometheus, until

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.process
@pytest.mark.slow
async def test_queries_reach_a_real_prometheus_as_written(
    tmp_path: Path, prometheus_gateway: MakeGateway
) -> None:
    # Debian's Prometheus scraping a target that is down: `up` is 0 once it has tried.
    async with running_prometheus(tmp_path, NOWHERE) as url:
        gateway = prometheus_gateway(url, timeout_s=5)
        promql = 'up{job=~"fire.+", instance="127.0.0.1:9"} + 1'  # `+` read as a space fails

        async def scraped() -> Any:
            return await gateway.query(promql, datetime.now(UTC))

        [series] = await until(scraped, "a scrape of the target")
        assert series.labels == {"job": "fireline", "instance": NOWHERE}
        assert series.last == 1.0
        now = datetime.now(UTC)
        [ranged] = await gateway.query_range(promql, now - timedelta(minutes=1), now, 1.0)
        assert ranged.points and all(value == 1.0 for _, value in ranged.points)
        with pytest.raises(QueryRejected, match="parse error"):
            await gateway.query('up{job="fireline"', now)


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (b"<html>502 Bad Gateway</html>", "text/html", "not JSON"),
        (b'["a", "list"]', "application/json", "not an API response"),
    ],
)
async def test_an_answer_that_is_not_prometheus_s_is_unavailable_not_a_rejected_query(
    prometheus_gateway: MakeGateway, body: bytes, content_type: str, said: str
) -> None:
    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/api/v1/query", answer)
    async with serve(app) as url:
        gateway = prometheus_gateway(url, timeout_s=2, attempts=1)
        with pytest.raises(Unavailable, match=said):
            await gateway.query("up", datetime.now(UTC))


async def test_the_environment_s_proxy_is_used_and_no_proxy_bypasses_it(
    prometheus_gateway: MakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: dict[str, Any] = {}
    async with serve(prometheus_app(state)) as url:
        gateway = prometheus_gateway(url, timeout_s=2, attempts=1)
        monkeypatch.setenv("HTTP_PROXY", f"http://{NOWHERE}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        now = datetime.now(UTC)
        with pytest.raises(Unavailable, match="could not be reached"):
            await gateway.query_range("up", now - timedelta(minutes=5), now, 60)
        assert "calls" not in state  # it went to the proxy, not to Prometheus
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert await gateway.query_range("up", now - timedelta(minutes=5), now, 60)
        assert len(state["calls"]) == 1
