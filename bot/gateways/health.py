"""The HTTP health-check gateway: GETs a configured endpoint with a timeout (httpx).

It reports status, latency and the checks the body names (`{"checks": {"db": "ok"}}` or
`{"status": "ok"}` shapes), and turns every failure into a finding rather than an exception:
a health check that cannot reach its target has found something.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from bot.errors import Unavailable
from bot.gateways.retry import with_retries
from bot.policy.models import HealthTarget


@dataclass(frozen=True)
class HealthResult:
    name: str
    healthy: bool
    status: int | None
    latency_ms: float
    checks: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class HealthChecker:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def check(self, name: str, target: HealthTarget, attempts: int = 2) -> HealthResult:
        # What may be temporary (no answer at all, or a 5xx) is tried again, by the gateways'
        # policy; a failure is a finding, so the last try is reported rather than raised.
        tries: list[HealthResult] = []

        async def once() -> HealthResult:
            tries.append(result := await self._once(name, target))
            if result.status is None or result.status >= 500:
                raise Unavailable(result.error or f"{name} answered {result.status}")
            return result

        try:
            return await with_retries(once, attempts=attempts, backoff_s=0.1)
        except Unavailable:
            return tries[-1]

    async def _once(self, name: str, target: HealthTarget) -> HealthResult:
        started = time.perf_counter()
        try:
            response = await self.client.get(target.url, timeout=target.timeout_s)
        except httpx.TimeoutException:
            elapsed = (time.perf_counter() - started) * 1000
            return HealthResult(
                name, False, None, elapsed, error=f"no answer in {target.timeout_s:g} s"
            )
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return HealthResult(
                name, False, None, elapsed, error=f"unreachable ({type(exc).__name__})"
            )
        elapsed = (time.perf_counter() - started) * 1000
        checks = _checks(response)
        healthy = response.status_code == target.expect_status and all(
            v.lower() in {"ok", "pass", "up", "healthy", "true"} for v in checks.values()
        )
        return HealthResult(name, healthy, response.status_code, elapsed, checks)


def _checks(response: httpx.Response) -> dict[str, str]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    found: dict[str, str] = {}
    raw = body.get("checks") or body.get("details") or {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            status = value.get("status", value) if isinstance(value, dict) else value
            found[str(key)] = str(status)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and "name" in item:
                found[str(item["name"])] = str(item.get("status", ""))
    if not found and "status" in body:
        found["status"] = str(body["status"])
    return found
