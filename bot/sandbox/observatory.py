"""The sandbox's observability beside the simulated cluster: one loopback HTTP server for the
simulated Prometheus (`/api/v1/…`, `/graph`), each service's health endpoint
(`/services/<namespace>/<service>/healthz`) and, when the real one is not installed, the
simulated Alertmanager (`/alertmanager/…`); plus the real Alertmanager's process when it is.

Started before the bot (the policy and settings name its addresses), stopped with the sandbox on
every exit path. `policy_targets` gives the sandbox policy what to point at: the Prometheus URL,
a health target per service, the local PostgreSQL when one answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.policy.models import Database, HealthTarget, NamedQuery, Prometheus, default_queries
from bot.sandbox.alertmanager import (
    PREFIX,
    RealAlertmanager,
    SimulatedAlertmanager,
    installed,
)
from bot.sandbox.clock import ScaledClock
from bot.sandbox.doubles.kubernetes import Cluster
from bot.sandbox.prometheus import SimulatedPrometheus
from bot.sandbox.telemetry import Telemetry

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
POSTGRES = ("127.0.0.1", 5432)
POSTGRES_DSN = "postgresql://127.0.0.1:5432/test?connect_timeout=3"
DSN_FILE = "sandbox-postgres.dsn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Targets:
    """What the sandbox policy and settings point at."""

    prometheus: Prometheus
    health: dict[str, HealthTarget]
    databases: dict[str, Database]
    alertmanager_url: str
    graph_url: str


async def postgres_answers(address: tuple[str, int] = POSTGRES, timeout_s: float = 1.0) -> bool:
    """Whether something listens where the local PostgreSQL would (the `db` diagnostic then
    reads it; otherwise the sandbox has no database and says so)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class Observatory:
    def __init__(
        self,
        cluster: Cluster,
        clock: ScaledClock,
        workdir: Path,
        *,
        queries: dict[str, NamedQuery] | None = None,
        real_alertmanager: bool = True,
    ) -> None:
        self.telemetry = Telemetry(cluster)
        self.queries = queries if queries is not None else default_queries()
        self.prometheus = SimulatedPrometheus(self.telemetry, self.queries)
        self.workdir = workdir
        self.clock = clock
        binary = installed() if real_alertmanager else None
        self.real: RealAlertmanager | None = (
            RealAlertmanager(binary, workdir / "alertmanager", free_port()) if binary else None
        )
        self.simulated_alertmanager = SimulatedAlertmanager(clock)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Observatory:
        app = web.Application()
        app.add_routes(self.prometheus.routes())
        app.add_routes(self.simulated_alertmanager.routes())
        app.add_routes([web.get("/services/{namespace}/{service}/healthz", self._health)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{LOOPBACK}:{port}"
        if self.real is not None:
            try:
                await self.real.start()
            except (OSError, RuntimeError) as exc:
                log.warning("sandbox: real Alertmanager unavailable, simulating it: %s", exc)
                self.real = None
        return self

    async def stop(self) -> None:
        if self.real is not None:
            await self.real.stop()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def alertmanager_url(self) -> str:
        return self.real.url if self.real is not None else f"{self.url}{PREFIX}"

    async def targets(self) -> Targets:
        health = {
            service: HealthTarget(url=f"{self.url}/services/{namespace}/{service}/healthz")
            for namespace, service in self.telemetry.services()
        }
        databases = {}
        if await postgres_answers():
            dsn = self.workdir / DSN_FILE
            dsn.write_text(POSTGRES_DSN, encoding="utf-8")
            dsn.chmod(0o600)
            databases["local-postgres"] = Database(dsn_file=dsn)
        return Targets(
            prometheus=Prometheus(url=self.url, queries=self.prometheus.queries),
            health=health,
            databases=databases,
            alertmanager_url=self.alertmanager_url,
            graph_url=f"{self.url}/graph",
        )

    async def _health(self, request: web.Request) -> web.Response:
        found = self.telemetry.health(
            request.match_info["namespace"], request.match_info["service"]
        )
        if found is None:
            return web.json_response({"status": "fail", "error": "no such service"}, status=404)
        return web.json_response(found.body, status=found.status)
