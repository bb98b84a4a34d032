"""`Fireline`: one bot, wired from its settings and `Deps` (no module-level app or registry):
Redis, the Slack client, the domain services, the Bolt app with its listeners, and the one HTTP
server (`/slack/events`, `/healthz`, `/readyz`, `/metrics`, the Alertmanager webhook). Socket
Mode, when an app token is set, runs beside the same HTTP server so probes keep working.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

import handlers
from bot.alerts.outbox import Outbox
from bot.alerts.playbooks import AlertPlaybooks
from bot.alerts.retention import AlertRetention
from bot.alerts.service import AlertThreads, Route, run_worker
from bot.alerts.store import AlertStore
from bot.alerts.writer import AlertWriter
from bot.app.console import cannot_listen
from bot.app.deps import Deps, kube_factory
from bot.app.drain import drain_within, end_loops
from bot.app.slack_link import SlackLink
from bot.app.watching import channel_roles, watchdog
from bot.checklists.models import ChecklistConfig, load_checklists
from bot.checklists.reminders import ReminderPolicy
from bot.checklists.service import Followups
from bot.commands.dispatch import Dispatcher
from bot.diagnostics.service import DiagnosticsService, Gateways
from bot.errors import ConfigurationError, FirelineError
from bot.gateways.alertmanager import AlertmanagerGateway
from bot.gateways.health import HealthChecker
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.gateways.slack import SlackGateway, build_client
from bot.gateways.slack_budget import SlackBudget
from bot.gateways.slack_health import SlackHealth
from bot.incidents.service import IncidentService
from bot.metrics import Metrics
from bot.playbooks.loader import load_playbooks, params_models
from bot.playbooks.runner import PlaybookRunner
from bot.policy.alerts import ALERT_PRINCIPAL
from bot.policy.authority import Authority
from bot.policy.authorizer import Authorizer
from bot.policy.models import load_policy
from bot.remediation.guard import RemediationGuard
from bot.remediation.runner import RemediationRunner
from bot.remediation.service import RemediationService
from bot.remediation.store import RemediationStore
from bot.runtime.inflight import InFlight
from bot.runtime.scheduler import JobQueue, Scheduler
from bot.services import Services
from bot.settings import Settings
from bot.store.server import connect
from bot.store.store import Store
from handlers.http import MAX_REQUEST_BODY, alert_routes, metrics_routes, routes

log = logging.getLogger(__name__)

SLACK_CONNECTIONS = 20
HTTP_SHUTDOWN_S = 3.0
LOOP_STOP_S = 3.0
STOP_BEYOND_GRACE_S = 2 * LOOP_STOP_S + HTTP_SHUTDOWN_S
"""The most a stop takes after its grace period (loops cancelled, twice bounded; the HTTP
server's shutdown): Kubernetes' terminationGracePeriodSeconds must exceed grace + this."""


class _ClientIsMeant(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment when given a client, then warns at every
    start that the client wins over it: Fireline gives the client on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
"""Bolt's base logger (its settings and filters pass to every logger Bolt makes)."""
BOLT_LOG.addFilter(_ClientIsMeant())


class Fireline:
    def __init__(self, settings: Settings, deps: Deps) -> None:
        self.settings = settings
        self.deps = deps
        # Before anything starts (the embedded Redis is a process): a bad playbook, policy or
        # checklists file stops start-up with every problem named, and nothing to undo.
        self.playbooks = (
            deps.playbooks
            if deps.playbooks is not None
            else load_playbooks(
                settings.playbooks_dir, params_models(deps.actions, deps.remediations)
            )
        )
        policy = deps.policy or load_policy(
            settings.policy_file,
            [a.name for a in deps.actions],
            [r.name for r in deps.remediations],
        )
        checklists: ChecklistConfig = load_checklists(settings.checklists_file)
        self.redis = deps.redis or connect(settings)
        self._owns_redis = deps.redis is None
        client = build_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_base)
        store = Store(
            self.redis.client,
            prefix=settings.redis_prefix,
            audit_window_s=settings.audit_retention.total_seconds(),
        )
        budget = SlackBudget(self.redis.client, store.keys, scale=settings.slack_rate_scale)
        self.metrics = Metrics()  # this app's own registry, served at /metrics
        self.slack_health = SlackHealth(
            deps.clock, self.metrics, broadcast=settings.broadcast_channel
        )
        slack = SlackGateway(client, budget, metrics=self.metrics, health=self.slack_health)
        self.slack_health.tell_through(slack, store)
        incidents = IncidentService(
            store,
            slack,
            deps.clock,
            channel_prefix=settings.channel_prefix,
            broadcast_channel=settings.broadcast_channel,
            declare_acknowledges=settings.declare_acknowledges,
        )
        channels = channel_roles(settings, policy)
        self.metrics.name_channels(channels)
        self.slack_health.watched = frozenset(channels)
        self.http = httpx.AsyncClient(follow_redirects=False)
        prometheus = self.prometheus = (
            PrometheusGateway(policy.prometheus.url, timeout_s=policy.prometheus.timeout_s)
            if policy.prometheus
            else None
        )
        authorizer = Authorizer(
            policy, slack.usergroup_members, principals={ALERT_PRINCIPAL: (policy.alerts.run_as,)}
        )
        authority = Authority(authorizer, store, deps.clock)
        kube = self.kube = kube_factory(policy, deps)
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
            metrics=self.metrics,
        )
        alert_store = AlertStore(self.redis.client, store.keys)
        self.outbox = Outbox(
            self.redis.client,
            store.keys,
            slack.for_alerts(),
            instance=settings.instance_name,
            metrics=self.metrics,
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
                clock=deps.clock,
            ),
            metrics=self.metrics,
        )
        self.scheduler = Scheduler(JobQueue(store), deps.clock, metrics=self.metrics)
        self.watchdog = watchdog(settings, policy, store, slack, self.scheduler, deps.clock)
        self.retention = AlertRetention(
            self.redis.client, store.keys, alert_store, self.scheduler, deps.clock,
            keep=settings.alert_retention,
        )  # fmt: skip
        alerts.beats = self.watchdog
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
            checklists,
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
            logger=BOLT_LOG,
        )
        handlers.register(self.bolt, self.services)
        self.web = web.Application(client_max_size=MAX_REQUEST_BODY)
        self.web.add_routes(
            routes(
                self.bolt,
                self.readiness,
                self.services.inflight,
                settings.slack_signing_secret,
                self.metrics,
            )
        )
        self.web.add_routes(
            alert_routes(self.services.alerts, settings.webhook_token, self.metrics)
        )
        self.web.add_routes(metrics_routes(self.metrics))
        self.metrics.read_at_scrape("outbox", self.outbox.report)
        self.metrics.read_at_scrape("scheduler", self.scheduler.report)
        if self.watchdog is not None:
            self.metrics.read_at_scrape("heartbeat", self.watchdog.report)
        self._runner: web.AppRunner | None = None
        self.slack_link = SlackLink(settings, slack, incidents, self.bolt, self.services.inflight)
        self._background: set[asyncio.Task[object]] = set()
        self._loops: set[asyncio.Task[object]] = set()
        self._cooperative: set[asyncio.Task[object]] = set()
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.http_host}:{self.port}"

    async def readiness(self) -> dict[str, bool]:
        redis_ok, slack_ok, access_ok = await asyncio.gather(
            self.services.store.ping(), self.slack_link.check(), self.slack_health.recheck()
        )
        slack_ok = slack_ok and self.slack_link.events_arrive
        if not redis_ok:
            self.metrics.redis_error("readiness")
        return {"redis": redis_ok, "slack": slack_ok, "slack_access": access_ok}

    async def start(self) -> None:
        """Listen, check Redis and Slack, connect Socket Mode, start the background work.
        Raises ConfigurationError (one line: what to change) when it cannot work as set up;
        the caller then calls `stop()`, which undoes whatever was done."""
        # The port first: a taken one is said at once, before seconds spent asking Slack.
        # Requests are answered within 3 s (pre-ack work is bounded at 2 s) and acked work is
        # drained separately, so the HTTP server need not wait aiohttp's default 60 s.
        self._runner = web.AppRunner(self.web, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_S)
        await self._runner.setup()
        host, port = self.settings.http_host, self.settings.http_port
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigurationError(cannot_listen(host, port, exc)) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        if not await self.services.store.ping():
            raise FirelineError(f"{self.redis.description} does not answer")
        # One pooled HTTP session for every Slack call: without it slack_sdk opens a new
        # session and connection per call, which costs the acks CPU under load.
        self.services.slack.client.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS)
        )
        link = self.slack_link
        ready = await link.check(refusal_stops=True) and await link.connect_socket(
            refusal_stops=True
        )
        # Everything built so far lives as long as the process: move it out of the garbage
        # collector's generations, so full collections (p99 pauses under load) stay short.
        gc.freeze()
        if not ready:
            self.spawn(self.slack_link.until_answers(), forever=True)
        self.spawn(self.services.incidents.reconcile())
        self.spawn(self.kube.watch_named())
        repair = self.services.incidents.repair_forever(
            self.deps.clock, self.settings.repair_interval_s
        )
        self.spawn(repair, forever=True)
        self.spawn(run_worker(self.services.alerts), forever=True, ends=True)
        self.spawn(self.remediation.runner.reconcile())
        self.spawn(self.outbox.run_forever(), forever=True, ends=True)
        self.spawn(self.scheduler.run_forever(), forever=True, ends=True)
        if self.watchdog is not None:
            self.spawn(self.watchdog.start())
        self.spawn(self.retention.start())
        mode = "Socket Mode" if self.settings.slack_app_token is not None else "HTTP mode"
        waiting = "" if ready else "; waiting for Slack"
        log.info("Fireline is up on %s (%s, %s)%s", self.url, mode, self.redis.description, waiting)

    def spawn(
        self, work: Coroutine[Any, Any, object], *, forever: bool = False, ends: bool = False
    ) -> None:
        """Run `work` in the background. At stop, work that is not `forever` is waited for
        (within the grace period), and so are the loops that `ends` once told to stop (the
        alert worker, the outbox, the scheduler); other `forever` loops are cancelled."""
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        tasks = self._loops if forever else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if ends:
            self._cooperative.add(task)
            task.add_done_callback(self._cooperative.discard)

    async def drain(self, grace_s: float = 10.0) -> bool:
        """Wait for acked work still running (and background tasks); False on timeout."""
        drained = await self.services.inflight.drain(grace_s)
        if self._background:
            await asyncio.wait(list(self._background), timeout=grace_s)
        return drained

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown (`docs/decisions/lifecycle.md`), bounded by `grace_s` (default
        `FIRELINE_SHUTDOWN_GRACE_S`) plus a few seconds: take no new work, let what is in
        flight finish, hand leases over, then release everything. Also undoes a start-up
        that failed half-way; safe to call twice."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        # Take no new work: Slack requests get 503 (Socket Mode envelopes are left to another
        # connection), /readyz 503; no new jobs, alert batches or outbox sends are started.
        self.services.inflight.close()
        self.services.alerts.stop()
        self.outbox.stop()
        self.scheduler.stop(grace)  # its running jobs get the grace, then are handed back
        waited = [*self._background, *self._cooperative]
        if not await drain_within(grace, self.services.inflight, waited):
            log.warning(
                "stopping with work unfinished after %.0f s: %d acked requests, %d jobs "
                "(handed over to another replica)",
                grace, self.services.inflight.count, self.scheduler.busy,
            )  # fmt: skip
        await self.slack_link.close()  # after the acks it carried were sent
        await end_loops([*self._background, *self._loops], self._cooperative, LOOP_STOP_S)
        if self._runner is not None:
            await self._runner.shutdown()
            await self._runner.cleanup()
            self._runner = None
        session = self.services.slack.client.session
        if session is not None:
            await session.close()
            self.services.slack.client.session = None
        await self.http.aclose()
        if self.prometheus is not None:
            await self.prometheus.aclose()
        await self.kube.aclose()
        await self.slack_health.close()
        if self._owns_redis:
            await self.redis.close()


def create_app(settings: Settings, deps: Deps | None = None) -> Fireline:
    return Fireline(settings, deps or Deps())
