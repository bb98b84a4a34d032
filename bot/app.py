"""The composition root: builds Fireline from its settings and runs it.

`create_app(settings, deps)` wires one instance (no module-level app or registry): Redis,
the Slack client, the domain services, the Bolt app with its listeners, and the one HTTP server
(`/slack/events`, `/healthz`, `/readyz`). Socket Mode, when an app token is set, runs beside
the same HTTP server so probes keep working.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

import handlers
from bot.actions.base import Action
from bot.alerts.outbox import Outbox
from bot.alerts.playbooks import AlertPlaybooks
from bot.alerts.service import AlertThreads, Route, run_worker
from bot.alerts.store import AlertStore
from bot.alerts.writer import AlertWriter
from bot.checklists.models import load_checklists
from bot.checklists.reminders import ReminderPolicy
from bot.checklists.service import Followups
from bot.clock import Clock, SystemClock
from bot.commands.dispatch import Dispatcher
from bot.diagnostics.actions import default_actions
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.errors import FirelineError
from bot.gateways.alertmanager import AlertmanagerGateway
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import DEFAULT_TIMEOUT_S, KubeGateway, api_client_for
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.gateways.slack import SlackGateway, build_client
from bot.gateways.slack_budget import SlackBudget
from bot.incidents.service import IncidentService
from bot.playbooks.loader import load_playbooks, params_models
from bot.playbooks.models import Playbooks
from bot.playbooks.runner import PlaybookRunner
from bot.policy.alerts import ALERT_PRINCIPAL
from bot.policy.authority import Authority
from bot.policy.authorizer import Authorizer
from bot.policy.models import Policy, load_policy
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import AnyRemediation
from bot.remediation.guard import RemediationGuard
from bot.remediation.runner import RemediationRunner
from bot.remediation.service import RemediationService
from bot.remediation.store import RemediationStore
from bot.runtime.inflight import InFlight
from bot.runtime.scheduler import JobQueue, Scheduler
from bot.services import Services
from bot.settings import Settings
from bot.store.server import RedisHandle, connect
from bot.store.store import Store
from handlers.http import MAX_REQUEST_BODY, alert_routes, routes

log = logging.getLogger(__name__)

SLACK_CHECK_TTL_S = 60.0
SHUTDOWN_GRACE_S = 10.0
SLACK_CONNECTIONS = 20
HTTP_SHUTDOWN_S = 3.0
LOOP_STOP_S = 3.0


@dataclass
class Deps:
    """What tests and the sandbox may replace; production leaves all defaults."""

    clock: Clock = field(default_factory=SystemClock)
    redis: RedisHandle | None = None
    actions: tuple[Action[Any, Any], ...] = field(default_factory=default_actions)
    """The diagnostics users may run (the explicit registry): the policy's roles and the
    playbooks' steps may name only these."""
    policy: Policy | None = None
    """A policy object instead of reading `FIRELINE_POLICY_FILE`."""
    kube_clients: Mapping[str, Any] = field(default_factory=dict)
    """Cluster name → kubernetes ApiClient, instead of one built from the policy's context."""
    kube_attempts: int = 3
    """Attempts per Kubernetes read (temporary errors only)."""
    kube_timeout_s: float = DEFAULT_TIMEOUT_S
    """Per-request Kubernetes timeout."""
    remediations: tuple[AnyRemediation, ...] = field(default_factory=default_remediations)
    """The remediation actions (the explicit registry): `/incident <name>`, approval, runner,
    the policy's `remediation.actions` and the playbooks' offers all know only these."""
    remediation_poll_s: float = 1.0
    """How often a rollout being verified is looked at."""
    playbooks: Playbooks | None = None
    """Playbooks instead of those in `FIRELINE_PLAYBOOKS_DIR`."""


def kube_factory(policy: Policy, deps: Deps) -> Callable[[str], KubeGateway]:
    """One gateway per cluster, built on first use (a missing kubeconfig fails that action only)."""
    built: dict[str, KubeGateway] = {}

    def kube(name: str) -> KubeGateway:
        if name not in built:
            api = deps.kube_clients.get(name) or api_client_for(policy.clusters[name])
            built[name] = KubeGateway(
                api, attempts=deps.kube_attempts, timeout_s=deps.kube_timeout_s
            )
        return built[name]

    return kube


class Fireline:
    def __init__(self, settings: Settings, deps: Deps) -> None:
        self.settings = settings
        self.deps = deps
        # Before anything connects: a bad playbook stops start-up with every problem named.
        self.playbooks = (
            deps.playbooks
            if deps.playbooks is not None
            else load_playbooks(
                settings.playbooks_dir, params_models(deps.actions, deps.remediations)
            )
        )
        self.redis = deps.redis or connect(settings.redis_url, settings.data_dir)
        self._owns_redis = deps.redis is None
        client = build_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_base)
        store = Store(self.redis.client, prefix=settings.redis_prefix)
        budget = SlackBudget(self.redis.client, store.keys, scale=settings.slack_rate_scale)
        slack = SlackGateway(client, budget)
        incidents = IncidentService(
            store,
            slack,
            deps.clock,
            channel_prefix=settings.channel_prefix,
            broadcast_channel=settings.broadcast_channel,
        )
        policy = deps.policy or load_policy(
            settings.policy_file,
            [a.name for a in deps.actions],
            [r.name for r in deps.remediations],
        )
        self.http = httpx.AsyncClient(follow_redirects=False)
        prometheus = (
            PrometheusGateway(
                self.http, policy.prometheus.url, timeout_s=policy.prometheus.timeout_s
            )
            if policy.prometheus
            else None
        )
        authorizer = Authorizer(
            policy, slack.usergroup_members, principals={ALERT_PRINCIPAL: (policy.alerts.run_as,)}
        )
        authority = Authority(authorizer, store, deps.clock)
        kube = kube_factory(policy, deps)
        self.diagnostics = DiagnosticsService(
            deps.actions,
            authorizer,
            store,
            slack,
            deps.clock,
            Gateways(
                kube=kube,
                prometheus=prometheus,
                health=HealthChecker(self.http),
                databases=DatabaseGateway(),
            ),
            timeout_s=settings.action_timeout_s,
        )
        alert_store = AlertStore(self.redis.client, store.keys)
        self.outbox = Outbox(
            self.redis.client, store.keys, slack.for_alerts(), instance=settings.instance_name
        )
        alerts = AlertThreads(
            alert_store,
            store,
            slack,
            deps.clock,
            fallback_channel=settings.alerts_channel,
            routes=tuple(Route(r.match, r.channel) for r in policy.alerts.routes),
            consumer=settings.instance_name,
            writer=AlertWriter(
                self.redis.client,
                store.keys,
                alert_store,
                self.outbox,
                threshold=settings.alert_storm_threshold,
            ),
        )
        self.scheduler = Scheduler(JobQueue(store), deps.clock)
        playbooks = PlaybookRunner(
            self.playbooks, self.diagnostics, store, slack, remediations=deps.remediations
        )
        self.alert_playbooks = AlertPlaybooks(
            playbooks,
            alerts.alerts,
            store,
            slack,
            deps.clock,
            self.scheduler,
            authority,
            policy.alerts,
            AlertmanagerGateway(self.http, str(settings.alertmanager_url))
            if settings.alertmanager_url
            else None,
        )
        alerts.hooks = self.alert_playbooks
        followups = Followups(
            store,
            slack,
            deps.clock,
            self.scheduler,
            load_checklists(settings.checklists_file),
            ReminderPolicy(
                ack_deadline=settings.ack_deadlines,
                escalate_after=settings.ack_escalate_after,
                update_every=settings.update_reminders,
                oncall=settings.oncall_groups,
            ),
            broadcast_channel=settings.broadcast_channel,
        )
        incidents.checklists = followups.book
        guard = RemediationGuard(authorizer, authority)
        records = RemediationStore(self.redis.client, store.keys)
        self.remediation = RemediationService(
            deps.remediations,
            guard,
            records,
            store,
            slack,
            deps.clock,
            RemediationRunner(
                deps.remediations, guard, records, store, slack, deps.clock, self.scheduler, kube,
                poll_s=deps.remediation_poll_s,
            ),
            kube,
            lambda user: self.diagnostics.context(user, None),
            alerts.incident_at,
        )  # fmt: skip
        self.services = Services(
            settings=settings,
            store=store,
            slack=slack,
            incidents=incidents,
            clock=deps.clock,
            dispatcher=Dispatcher(
                incidents,
                alerts,
                followups,
                diagnostics=self.diagnostics,
                remediation=self.remediation,
                playbooks=playbooks,
                authority=authority,
                checklists=followups,
            ),
            inflight=InFlight(),
            alerts=alerts,
            followups=followups,
            remediation=self.remediation,
            alert_playbooks=self.alert_playbooks,
        )
        self.bolt = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            process_before_response=False,
        )
        handlers.register(self.bolt, self.services)
        self.web = web.Application(client_max_size=MAX_REQUEST_BODY)
        self.web.add_routes(
            routes(self.bolt, self.readiness, self.services.inflight, settings.slack_signing_secret)
        )
        self.web.add_routes(alert_routes(self.services.alerts, settings.webhook_token))
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._slack_ok_at = 0.0
        self._background: set[asyncio.Task[object]] = set()
        self._loops: set[asyncio.Task[object]] = set()
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.http_host}:{self.port}"

    async def check_slack(self) -> bool:
        if time.monotonic() - self._slack_ok_at < SLACK_CHECK_TTL_S:
            return True
        try:
            identity = await self.services.slack.auth_test()
        except FirelineError as exc:
            log.warning("Slack auth.test failed: %s", exc)
            return False
        self.services.incidents.bot_user_id = str(identity.get("user_id") or "") or None
        self._slack_ok_at = time.monotonic()
        return True

    async def readiness(self) -> dict[str, bool]:
        redis_ok, slack_ok = await asyncio.gather(self.services.store.ping(), self.check_slack())
        return {"redis": redis_ok, "slack": slack_ok}

    async def start(self) -> None:
        if not await self.services.store.ping():
            raise FirelineError(f"{self.redis.description} does not answer")
        # One pooled HTTP session for every Slack call: without it slack_sdk opens a new
        # session and connection per call, which costs the acks CPU under load.
        self.services.slack.client.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS)
        )
        await self.check_slack()
        # Requests are answered within 3 s (pre-ack work is bounded at 2 s) and acked work is
        # drained separately, so the HTTP server need not wait aiohttp's default 60 s.
        self._runner = web.AppRunner(self.web, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.http_port
        if self.settings.slack_app_token is not None:
            self._socket = AsyncSocketModeHandler(
                self.bolt, self.settings.slack_app_token.get_secret_value()
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        # Everything built so far lives as long as the process: move it out of the garbage
        # collector's generations, so full collections (p99 pauses under load) stay short.
        gc.freeze()
        self.spawn(self.services.incidents.reconcile())
        self.spawn(self.services.incidents.repair_forever(self.deps.clock), forever=True)
        self.spawn(run_worker(self.services.alerts), forever=True)
        self.spawn(self.remediation.runner.reconcile())
        self.spawn(self.outbox.run_forever(), forever=True)
        self.spawn(self.scheduler.run_forever(), forever=True)
        mode = "Socket Mode" if self._socket else "HTTP mode"
        log.info("Fireline is up on %s (%s, %s)", self.url, mode, self.redis.description)

    def spawn(self, work: Coroutine[Any, Any, object], *, forever: bool = False) -> None:
        """Run `work` in the background; `forever` loops are cancelled at stop, not awaited."""
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        tasks = self._loops if forever else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def drain(self, grace_s: float = 10.0) -> bool:
        """Wait for acked work still running (and background tasks); False on timeout."""
        drained = await self.services.inflight.drain(grace_s)
        if self._background:
            await asyncio.wait(list(self._background), timeout=grace_s)
        return drained

    async def stop(self) -> None:
        """Stop taking requests, let acked work finish (bounded), then release everything."""
        if self._runner is not None:
            await self._runner.shutdown()
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if not await self.services.inflight.drain(SHUTDOWN_GRACE_S):
            log.warning("stopping with %d acked requests unfinished", self.services.inflight.count)
        self.services.alerts.stop()
        self.outbox.stop()
        self.scheduler.stop()
        tasks = [*self._background, *self._loops]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a library that swallows a cancellation must not hang the shutdown.
            _, stuck = await asyncio.wait(tasks, timeout=LOOP_STOP_S)
            if stuck:
                log.warning("%d background tasks did not stop in time", len(stuck))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        session = self.services.slack.client.session
        if session is not None:
            await session.close()
            self.services.slack.client.session = None
        await self.http.aclose()
        if self._owns_redis:
            await self.redis.close()


def create_app(settings: Settings, deps: Deps | None = None) -> Fireline:
    return Fireline(settings, deps or Deps())


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    await app.start()
    try:
        await asyncio.Event().wait()
    finally:
        await app.stop()
