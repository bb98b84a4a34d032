"""Fireline wired to the doubles: the one place that points a bot at the Slack workspace double
and at simulated Kubernetes clusters.

The sandbox runs the product through it, and the tests build every bot they drive on it
(`tests/harness.py`), so both connect Fireline to its doubles the same way. `Wiring` changes
nothing about the bot: it calls the production composition root, `create_app(settings, deps)`,
with the settings that point at the Slack double and the API clients of the simulated
clusters, then tells the double where to deliver (signed requests to `/slack/events`). The Slack
double's own lifetime and the workspace in it (people, channels) stay with the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.app import Deps, Fireline, create_app
from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, api_client
from bot.sandbox.doubles.slack import SlackDouble
from bot.settings import Settings

LOOPBACK = "127.0.0.1"


class Wiring:
    def __init__(self, slack: SlackDouble) -> None:
        self.slack = slack
        self.clusters: dict[str, KubernetesDouble] = {}
        """Cluster name (as the policy names it) → the Kubernetes double serving it."""
        self.apps: list[Fireline] = []
        """Every bot started, in order (replicas, restarts); stopped ones included."""
        self._kube_clients: dict[str, Any] = {}
        self._stopped: set[int] = set()

    async def simulate(
        self,
        name: str,
        cluster: Cluster,
        *,
        reconcile_interval: float | None = None,
        on_serve: Callable[[dict[str, Any]], None] | None = None,
    ) -> KubernetesDouble:
        """Serve `cluster` over real HTTP on loopback as the cluster the policy calls `name`
        (its controllers every `reconcile_interval` seconds; the double's default if None)."""
        double = KubernetesDouble(cluster, on_serve=on_serve)
        if reconcile_interval is not None:
            double.reconcile_interval = reconcile_interval
        await asyncio.to_thread(double.start)
        self.clusters[name] = double
        self._kube_clients[name] = api_client(double.base_url)
        return double

    def settings(self) -> dict[str, Any]:
        """The settings (field names) that point the bot at the Slack double, on loopback."""
        return {
            "slack_bot_token": self.slack.bot_token,
            "slack_signing_secret": self.slack.app.signing_secret,
            "slack_app_token": None,
            "slack_api_url": self.slack.api_url,
            "http_host": LOOPBACK,
        }

    async def start(
        self, settings: Settings, deps: Deps, routes: Iterable[web.RouteDef] = ()
    ) -> Fireline:
        """Build a bot with the production composition root, on the simulated clusters (clients
        in `deps` win), with `routes` added to its HTTP server; start it and deliver to it."""
        deps = replace(deps, kube_clients={**self._kube_clients, **deps.kube_clients})
        app = create_app(settings, deps)
        app.web.add_routes(list(routes))
        self.apps.append(app)
        await app.start()
        self.slack.request_url = f"{app.url}/slack/events"
        return app

    async def stop(self, app: Fireline, grace_s: float | None = None) -> None:
        """Stop one bot (a restart; with `grace_s=0`, as near a crash as a stop gets: nothing
        in flight is waited for); the others keep running."""
        if id(app) not in self._stopped:
            self._stopped.add(id(app))
            await app.stop(grace_s)

    async def close(self) -> None:
        """Stop every bot still running, then the simulated clusters."""
        for app in self.apps:
            await self.stop(app)
        for client in self._kube_clients.values():
            client.close()
        self._kube_clients.clear()
        for double in self.clusters.values():
            await asyncio.to_thread(double.stop)
        self.clusters.clear()
