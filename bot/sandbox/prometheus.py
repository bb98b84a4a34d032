"""The sandbox's simulated Prometheus: the HTTP API Fireline calls (`/api/v1/query`,
`/api/v1/query_range`, answered in Prometheus's own JSON shape) for the sandbox policy's named
queries, computed from the simulated cluster (`bot.sandbox.telemetry`).

It evaluates no PromQL: it recognises the policy's named queries (each a template with
`$service`, the service argument, matched as a label regex the way Prometheus would) and
answers anything else with Prometheus's 400 `bad_data`, saying so. Every series carries
`simulated="true"`, and `/graph` (where the alerts' Graph links point) says plainly that this
is the sandbox's simulation, not a Prometheus server.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.policy.models import NamedQuery
from bot.sandbox.doubles.kubernetes.controller import reconcile_if_due
from bot.sandbox.telemetry import Telemetry

MAX_POINTS = 11_000
"""Prometheus's own limit on points per series in a range query."""
SIMULATED = {"simulated": "true"}

Labels = tuple[tuple[str, str], ...]
Samples = dict[Labels, float]
Sample = Callable[[Telemetry, str, datetime], Samples]


def _by_service(value: Callable[[Any], float]) -> Sample:
    def sample(t: Telemetry, service: str, at: datetime) -> Samples:
        found: Samples = {}
        for namespace, name in t.services():
            if re.fullmatch(service, name) and (state := t.state(namespace, name, at)):
                found[(("service", name),)] = value(state)
        return found

    return sample


def _memory(t: Telemetry, service: str, at: datetime) -> Samples:
    pattern = service + ".*"
    return {
        (("pod", pod),): float(used)
        for (_, pod), used in t.memory(at).items()
        if re.fullmatch(pattern, pod) and used
    }


SIGNALS: dict[str, Sample] = {
    "error-rate": _by_service(lambda s: 100 * s.error_ratio),
    "p95-latency": _by_service(lambda s: s.p95_s),
    "request-rate": _by_service(lambda s: s.rps),
    "memory-trend": _memory,
}
"""What each of the sandbox policy's named queries measures (bot.policy.models.default_queries)."""


class SimulatedPrometheus:
    def __init__(self, telemetry: Telemetry, queries: Mapping[str, NamedQuery]) -> None:
        self.telemetry = telemetry
        self.queries = {name: q for name, q in queries.items() if name in SIGNALS}
        self._patterns = [(name, _template(q.promql)) for name, q in self.queries.items()]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/query", self._query),
            web.post("/api/v1/query", self._query),
            web.get("/api/v1/query_range", self._query_range),
            web.post("/api/v1/query_range", self._query_range),
            web.get("/graph", self._graph),
            web.get("/", self._graph),
        ]

    def recognise(self, promql: str) -> tuple[str, str] | None:
        """(named query, service regex) for a query this simulation answers."""
        for name, pattern in self._patterns:
            if match := pattern.fullmatch(promql.strip()):
                return name, match.groupdict().get("service") or ".*"
        return None

    def sample(self, name: str, service: str, at: datetime) -> Samples:
        return SIGNALS[name](self.telemetry, service, at)

    # -- the API ---------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> Mapping[str, str]:
        reconcile_if_due(self.telemetry.cluster)  # the ledger is as of now
        if request.method == "POST":
            return {**request.query, **(await request.post())}  # type: ignore[dict-item]
        return request.query

    async def _query(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        try:
            named = self._named(params)
            at = _time(params.get("time")) if params.get("time") else self._now()
            _check_service(named[1])
        except ValueError as exc:
            return _error(str(exc))
        samples = self.sample(*named, at)
        result = [
            {"metric": dict(labels) | SIMULATED, "value": [at.timestamp(), _fmt(v)]}
            for labels, v in sorted(samples.items())
        ]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    async def _query_range(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        try:
            named = self._named(params)
            start, end = _time(params.get("start")), _time(params.get("end"))
            step = _step(params.get("step"))
            _check_service(named[1])
        except ValueError as exc:
            return _error(str(exc))
        if end < start:
            return _error("end timestamp must not be before start time")
        if (end - start).total_seconds() / step > MAX_POINTS:
            return _error(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                "the query resolution (?step=XX)"
            )
        series: dict[tuple[tuple[str, str], ...], list[list[object]]] = {}
        at = start
        while at <= end:
            for labels, value in self.sample(*named, at).items():
                series.setdefault(labels, []).append([at.timestamp(), _fmt(value)])
            at += timedelta(seconds=step)
        result = [
            {"metric": dict(labels) | SIMULATED, "values": values}
            for labels, values in sorted(series.items())
        ]
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    def _named(self, params: Mapping[str, str]) -> tuple[str, str]:
        promql = params.get("query")
        if not promql:
            raise ValueError('invalid parameter "query": unknown query')  # as Prometheus words it
        named = self.recognise(promql)
        if named is None:
            raise ValueError(
                "the sandbox's simulated Prometheus answers only the sandbox policy's named "
                f"queries ({', '.join(sorted(self.queries))}), not arbitrary PromQL"
            )
        return named

    def _now(self) -> datetime:
        return self.telemetry.cluster.now()

    # -- the page the Graph links open -------------------------------------------------------
    async def _graph(self, request: web.Request) -> web.Response:
        reconcile_if_due(self.telemetry.cluster)
        now = self._now()
        rows = []
        for name, query in sorted(self.queries.items()):
            samples = self.sample(name, ".*", now)
            for labels, value in sorted(samples.items()):
                label = ", ".join(f"{k}={v}" for k, v in labels)
                rows.append(
                    f"<tr><td>{html.escape(name)}</td><td>{html.escape(label)}</td>"
                    f"<td>{html.escape(_fmt(value))} {html.escape(query.unit)}</td></tr>"
                )
        asked = html.escape(request.query.get("g0.expr", ""))
        body = f"""<!doctype html><meta charset="utf-8">
<title>Simulated Prometheus (sandbox)</title>
<style>body{{font:14px system-ui;margin:2em}}td,th{{padding:2px 10px;text-align:left}}</style>
<h1>Simulated Prometheus</h1>
<p><strong>This is not a Prometheus server.</strong> The Fireline sandbox computes these values
from its simulated cluster (sandbox time {html.escape(now.isoformat(timespec="seconds"))});
every series is labelled <code>simulated="true"</code>. It answers the sandbox policy's named
queries only.</p>
{f"<p>Asked for: <code>{asked}</code></p>" if asked else ""}
<table><tr><th>Query</th><th>Series</th><th>Now</th></tr>{"".join(rows)}</table>
"""
        return web.Response(text=body, content_type="text/html")


def _template(promql: str) -> re.Pattern[str]:
    """A named query as a pattern: its text exactly, `$service` the same value each time."""
    first, *rest = re.escape(promql).split(r"\$service")
    if not rest:
        return re.compile(first)
    return re.compile(first + "(?P<service>.*?)" + "(?P=service)".join(rest))


def _fmt(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def _time(raw: str | None) -> datetime:
    if raw is None:
        raise ValueError('invalid parameter "start": cannot parse "" to a valid timestamp')
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except ValueError:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"cannot parse {raw!r} to a valid timestamp") from None


def _step(raw: str | None) -> float:
    try:
        step = float(raw or "")
    except ValueError:
        raise ValueError(
            f'invalid parameter "step": cannot parse {raw!r} to a valid duration'
        ) from None
    if step <= 0:
        raise ValueError("zero or negative query resolution step widths are not accepted")
    return step


def _check_service(service: str) -> None:
    try:
        re.compile(service)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {service!r}: {exc}") from None


def _error(message: str) -> web.Response:
    return web.json_response(
        {"status": "error", "errorType": "bad_data", "error": message}, status=400
    )
