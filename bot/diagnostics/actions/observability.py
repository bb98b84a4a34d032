"""Diagnostics outside Kubernetes: `health` (HTTP endpoints), `query` (named Prometheus
queries, with a chart), `db` (PostgreSQL sessions)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from bot import messages as shared
from bot.actions.base import Action, Context, Params, close_matches
from bot.actions.output import Attachment, Result, Section, table
from bot.diagnostics import messages
from bot.diagnostics.charts import line_chart
from bot.errors import NotFound
from bot.gateways.health import HealthResult
from bot.gateways.postgres import DatabaseFindings
from bot.gateways.prometheus import Series
from bot.policy.authorizer import Scope
from bot.policy.models import NamedQuery
from bot.runtime.redaction import redact
from bot.settings import read_secret


def _named(kind: str, name: str, known: dict[str, object]) -> None:
    if name not in known:
        names = sorted(known)
        raise NotFound(shared.no_such_named(kind, name, names, close_matches(name, names)))


class HealthParams(Params):
    positional = ("target",)

    target: str
    """A health-check target named in the policy, or `all`."""


class Health(Action[HealthParams, list[HealthResult]]):
    """Checks configured HTTP health endpoints: status, latency and the checks the body reports."""

    name = "health"
    usage = "health <target|all>"
    Params = HealthParams

    def scopes(self, params: HealthParams, ctx: Context) -> list[Scope]:
        if params.target == "all":
            if not ctx.policy.health:
                raise NotFound(messages.not_configured("Health checking"))
            return [Scope("health", n) for n in ctx.policy.health]
        _named("health-check target", params.target, dict(ctx.policy.health))
        return [Scope("health", params.target)]

    async def execute(
        self, params: HealthParams, ctx: Context, scopes: list[Scope]
    ) -> list[HealthResult]:
        return list(
            await asyncio.gather(
                *(ctx.health.check(s.target, ctx.policy.health[s.target]) for s in scopes)
            )
        )

    def render(self, params: HealthParams, findings: list[HealthResult], ctx: Context) -> Result:
        result = Result(f"Health of `{params.target}`")
        bad = [h for h in findings if not h.healthy]
        result.headline.append(
            f"{len(findings) - len(bad)}/{len(findings)} healthy"
            + (": " + ", ".join(f"{h.name} {h.error or h.status}" for h in bad) if bad else "")
        )
        rows = [
            [h.name, "OK" if h.healthy else "FAIL", str(h.status or "-"), f"{h.latency_ms:.0f} ms",
             h.error or ", ".join(f"{k}={v}" for k, v in h.checks.items()) or "-"]
            for h in findings
        ]  # fmt: skip
        result.sections.append(
            Section("", redact(table(rows, ["TARGET", "STATE", "HTTP", "LATENCY", "CHECKS"])), True)
        )
        return result


class QueryParams(Params):
    positional = ("query",)
    flags: ClassVar[dict[str, str]] = {
        "--range": "range_minutes",
        "-r": "range_minutes",
        "--service": "service",
    }

    query: str
    """A query named in the policy (`error-rate`, `p95-latency`, …)."""

    range_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    """Minutes to look back; the query's own default when left out."""

    service: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9_.-]{1,63}$")
    """Service name substituted for `$service` in the query."""


@dataclass
class QueryFindings:
    spec: NamedQuery
    series: list[Series]
    chart: bytes | None


class Query(Action[QueryParams, QueryFindings]):
    """Runs a named Prometheus query over a time range: the latest value per series, and a PNG
    chart of the range where the trend matters."""

    name = "query"
    usage = "query <name> [--range MINUTES] [--service NAME]"
    Params = QueryParams

    def scopes(self, params: QueryParams, ctx: Context) -> list[Scope]:
        if ctx.policy.prometheus is None:
            raise NotFound(messages.not_configured("Prometheus"))
        _named("named query", params.query, dict(ctx.policy.prometheus.queries))
        return [Scope("prometheus", params.query)]

    async def execute(
        self, params: QueryParams, ctx: Context, scopes: list[Scope]
    ) -> QueryFindings:
        assert ctx.policy.prometheus is not None and ctx.prometheus is not None
        spec = ctx.policy.prometheus.queries[params.query]
        promql = spec.promql.replace("$service", params.service or ".*")
        minutes = params.range_minutes or spec.range_minutes
        end = ctx.clock.now()
        start = end - timedelta(minutes=minutes)
        step = max(15.0, minutes * 60 / 120)
        series = await ctx.prometheus.query_range(promql, start, end, step)
        chart = None
        if spec.chart and series:
            chart = await line_chart(f"{params.query} — last {minutes} min", series, spec.unit)
        return QueryFindings(spec, series, chart)

    def render(self, params: QueryParams, findings: QueryFindings, ctx: Context) -> Result:
        result = Result(f"`{params.query}` — {findings.spec.description}")
        if not findings.series:
            result.headline.append("Prometheus returned no series for this range.")
            return result
        latest = sorted(findings.series, key=lambda s: -(_finite(s.last)))
        top = latest[0]
        result.headline.append(
            f"highest now: {fmt_value(top.last, findings.spec.unit)} ({_label(top)})"
        )
        rows = [
            [_label(s), fmt_value(s.last, findings.spec.unit),
             fmt_value(max((v for _, v in s.points), default=None), findings.spec.unit)]
            for s in latest[:30]
        ]  # fmt: skip
        result.sections.append(Section("", table(rows, ["SERIES", "NOW", "MAX IN RANGE"]), True))
        if findings.chart:
            result.files.append(
                Attachment(f"{params.query}.png", f"{params.query} chart", findings.chart)
            )
        return result


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def _label(series: Series) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(series.labels.items()) if k != "__name__") or "-"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / 1024**2:.0f} MiB"
    if unit == "rps":
        return f"{value:.1f}/s"
    return f"{value:.4g}"


class DbParams(Params):
    positional = ("target",)

    target: str
    """A database named in the policy."""


class Db(Action[DbParams, DatabaseFindings]):
    """PostgreSQL at a glance, from a read-only session with a statement timeout: connections by
    state against max_connections, queries running longer than the threshold, and sessions
    idle in a transaction."""

    name = "db"
    usage = "db <target>"
    Params = DbParams

    def scopes(self, params: DbParams, ctx: Context) -> list[Scope]:
        _named("database", params.target, dict(ctx.policy.databases))
        return [Scope("database", params.target)]

    async def execute(
        self, params: DbParams, ctx: Context, scopes: list[Scope]
    ) -> DatabaseFindings:
        spec = ctx.policy.databases[params.target]
        dsn = read_secret(env=spec.dsn_env, file=spec.dsn_file)
        if dsn is None:
            raise NotFound(messages.not_configured(f"The DSN of database `{params.target}`"))
        return await ctx.databases.inspect(
            dsn.get_secret_value(),
            statement_timeout_ms=spec.statement_timeout_ms,
            long_query_s=spec.long_query_s,
        )

    def render(self, params: DbParams, findings: DatabaseFindings, ctx: Context) -> Result:
        spec = ctx.policy.databases[params.target]
        used = findings.total / findings.max_connections if findings.max_connections else 0.0
        result = Result(f"Database `{params.target}`")
        result.headline.append(
            f"{findings.total}/{findings.max_connections} connections ({used:.0%}) · "
            f"{len(findings.long_running)} queries > {spec.long_query_s:g} s · "
            f"{len(findings.idle_in_transaction)} idle in transaction"
        )
        states = [[s, str(n)] for s, n in findings.by_state.items()]
        result.sections.append(Section("Connections by state", table(states, ["STATE", "N"]), True))
        for title, sessions in (
            (f"Running > {spec.long_query_s:g} s", findings.long_running),
            ("Idle in transaction", findings.idle_in_transaction),
        ):
            if sessions:
                rows = [
                    [
                        str(s.pid),
                        s.user,
                        f"{s.seconds:.0f} s",
                        redact(" ".join(s.query.split()))[:120],
                    ]
                    for s in sessions
                ]
                result.sections.append(
                    Section(title, table(rows, ["PID", "USER", "FOR", "QUERY"]), True)
                )
        return result
