"""The Prometheus gateway: the HTTP API (`/api/v1/query`, `/api/v1/query_range`), read over
aiohttp on the event loop as the Kubernetes reads are (`bot.gateways.http_reads`: a seventh of
httpx's CPU a request, and `diagnose` makes its two queries beside fifteen other reads).

Only the policy's named queries reach it. Temporary failures (connection, timeout, 5xx, 429)
are retried by the gateways' policy (`bot.gateways.retry`); a query Prometheus rejects
(400/422) is a user-facing error that names the query. It returns plain series.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from bot.errors import PermanentError, Throttled, Unavailable
from bot.gateways.http_reads import ReadTransport, TlsSettings
from bot.gateways.retry import with_retries

AT_ONCE = 8
"""Connections to Prometheus at most per event loop (`diagnose` makes two queries at once)."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value)

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


class QueryRejected(PermanentError):
    """Prometheus refused the query itself (bad PromQL); fix the policy's query."""


class PrometheusGateway:
    def __init__(self, base_url: str, *, timeout_s: float, attempts: int = 3) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.reads = ReadTransport(TlsSettings(), at_once=AT_ONCE, trust_env=True)

    async def aclose(self) -> None:
        """Close the running loop's connections (the bot does as it stops)."""
        await self.reads.aclose()

    async def query(self, promql: str, at: datetime) -> list[Series]:
        data = await self._get("/query", {"query": promql, "time": at.timestamp()})
        return _series(data)

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        params = {
            "query": promql,
            "start": start.timestamp(),
            "end": end.timestamp(),
            "step": step_s,
        }
        return _series(await self._get("/query_range", params))

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return await with_retries(lambda: self._get_once(path, params), attempts=self.attempts)

    async def _get_once(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base}{path}?{urlencode(params)}"
        try:
            status, raw = await self.reads.get(url, {"Accept": "application/json"}, self.timeout_s)
        except TimeoutError as exc:
            raise Unavailable(f"Prometheus did not answer within {self.timeout_s:g} s") from exc
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise Unavailable("Prometheus could not be reached") from exc
        if status == 429:
            raise Throttled("Prometheus is rate-limiting", retry_after=1.0)
        if status >= 500:
            raise Unavailable(f"Prometheus answered {status}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Unavailable("Prometheus answered something that is not JSON") from exc
        if not isinstance(body, dict):
            raise Unavailable("Prometheus answered JSON that is not an API response")
        if body.get("status") != "success":
            raise QueryRejected(f"Prometheus rejected the query: {body.get('error', 'unknown')}")
        return dict(body.get("data") or {})


def _series(data: dict[str, Any]) -> list[Series]:
    kind = data.get("resultType")
    out = []
    for item in data.get("result") or []:
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        if kind == "matrix":
            raw = item.get("values") or []
        else:
            raw = [item["value"]] if item.get("value") else []
        points = [(float(t), _number(v)) for t, v in raw]
        out.append(Series(labels, points))
    return out


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
