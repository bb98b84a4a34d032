"""The sandbox: Fireline as it runs in production, wired to local doubles instead of Slack and
Kubernetes.

`Sandbox.start()` starts the Slack workspace emulator (the same `SlackDouble` the tests use),
the simulated cluster (the same `KubernetesDouble`, with the `orion_prod` scenario) or the
person's own cluster read-only, then builds the bot with `create_app(settings, deps)` — the
production composition root, unchanged — pointed at them through `Wiring` (which the tests use
too), adds the sandbox page's routes to the bot's own HTTP server, and starts it.
Nothing here changes how the production bot behaves.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from bot.app import Deps, Fireline
from bot.sandbox.alerts import (
    BUILTIN_EXAMPLES,
    AlertExample,
    AlertSource,
    AllExamples,
    ExampleFile,
    PlaybookExamples,
    notification,
)
from bot.sandbox.clock import ScaledClock
from bot.sandbox.doubles.kubernetes import Cluster as SimulatedCluster
from bot.sandbox.doubles.kubernetes import KubernetesDouble, Timing
from bot.sandbox.doubles.kubernetes.story import living_orion_prod
from bot.sandbox.doubles.slack import SlackDouble
from bot.sandbox.live import Changes, DrillStatus
from bot.sandbox.observatory import Observatory, Targets
from bot.sandbox.people import (
    PERSONAS,
    SIMULATED,
    Persona,
    kubeconfig_cluster,
    sandbox_policy,
    simulated_cluster,
)
from bot.sandbox.telemetry import Telemetry
from bot.sandbox.wiring import Wiring
from bot.settings import DEFAULT_PLAYBOOKS_DIR, Settings, load_settings
from bot.store.server import RedisHandle

log = logging.getLogger(__name__)

PLAYBOOKS_DIR = DEFAULT_PLAYBOOKS_DIR
BROADCAST, ALERTS, WAR_ROOM = "incidents", "alerts", "war-room"
# Controllers of the simulated cluster, in sandbox seconds: a pod becomes Ready 8 s after it
# is created, a rollout replaces one pod every 5 s (seen at the chosen --speed).
CLUSTER_TIMING = Timing(rollout_step=5.0, pod_ready=8.0)
BOT_EVENTS = frozenset({"reaction_added", "reaction_removed"})
"""The events Fireline's Slack app subscribes to (deploy/slack-app-manifest.yml, checked by a
test): the workspace delivers only these, as Slack would."""


@dataclass
class SandboxOptions:
    speed: float = 1.0
    http_port: int | None = None
    """The page's port (None: FIRELINE_HTTP_PORT, else 3000; 0: any free port)."""
    kube_context: str | None = None
    """A kubeconfig context to use instead of the simulated cluster (read-only)."""
    alerts: AlertSource | None = None
    """Where the fire-an-alert control's examples come from (default: the simulated problems,
    then one per playbook)."""
    redis: RedisHandle | None = None
    """A Redis to use (tests); default: a fresh embedded one in a temporary directory."""
    redis_prefix: str = "fireline-sandbox:"
    settings: dict[str, Any] = field(default_factory=dict)
    """Further settings (field names) over the environment's, e.g. checklist or reminder times."""
    real_alertmanager: bool = True
    """Silences go to Debian's Alertmanager when it is installed (False: always the simulated
    one)."""


class Sandbox:
    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self.clock = ScaledClock(self.options.speed)
        # The workspace keeps Slack's own (wall-clock) time: trigger IDs and response URLs
        # expire in real seconds for the person clicking, whatever the sandbox speed.
        self.slack = SlackDouble(
            signing_secret=secrets.token_hex(16),
            team_name="Fireline Sandbox",
            team_domain="fireline-sandbox",
        )
        self.slack.app.bot_events = BOT_EVENTS
        self.wiring = Wiring(self.slack)
        self.alert_source: AlertSource = self.options.alerts or AllExamples(
            ExampleFile(BUILTIN_EXAMPLES), PlaybookExamples(PLAYBOOKS_DIR)
        )
        self.people: dict[str, Persona] = {}
        self.channels: dict[str, str] = {}
        self.cluster: SimulatedCluster | None = None
        self.kube: KubernetesDouble | None = None
        self.app: Fireline | None = None
        self.webhook_token = secrets.token_urlsafe(24)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._work: tempfile.TemporaryDirectory[str] | None = None
        self.observatory: Observatory | None = None
        """The simulated cluster's Prometheus, health endpoints and Alertmanager (None with
        `--cluster`)."""
        self.targets: Targets | None = None
        self._http = httpx.AsyncClient(timeout=10)
        self.changes: Changes | None = None
        """The page's change feed (set when the page's routes are added)."""
        self.drill: DrillStatus | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> Sandbox:
        await self.slack.start()
        self._populate_workspace()
        if self.options.kube_context is None:
            self.cluster = living_orion_prod(SimulatedCluster(self.clock, timing=CLUSTER_TIMING))
            self.kube = await self.wiring.simulate(SIMULATED, self.cluster, reconcile_interval=0.2)
            cluster_name, cluster = SIMULATED, simulated_cluster()
            self._work = tempfile.TemporaryDirectory(prefix="fireline-sandbox-services-")
            self.observatory = Observatory(
                self.cluster,
                self.clock,
                Path(self._work.name),
                real_alertmanager=self.options.real_alertmanager,
            )
            await self.observatory.start()
            self.targets = await self.observatory.targets()
        else:
            cluster_name = self.options.kube_context
            cluster = kubeconfig_cluster(self.options.kube_context)
        deps = Deps(
            clock=self.clock,
            redis=self.options.redis,
            policy=sandbox_policy(
                self.people,
                cluster,
                cluster_name,
                simulated=cluster_name == SIMULATED,
                observability=self.targets,
            ),
        )
        from bot.sandbox.page import page_routes  # the page needs the started sandbox

        self.app = await self.wiring.start(self._settings(), deps, page_routes(self))
        return self

    async def stop(self) -> None:
        try:
            await self.wiring.close()
        finally:
            self.app = None
            self.kube = None
            if self.observatory is not None:
                await self.observatory.stop()
                self.observatory = None
            await self.slack.aclose()
            await self._http.aclose()
            for tmp in (self._tmp, self._work):
                if tmp is not None:
                    tmp.cleanup()
            self._tmp = self._work = None

    @property
    def telemetry(self) -> Telemetry | None:
        """The simulated services' state (what the simulated Prometheus and health endpoints
        answer from): `telemetry.state("orion-prod", "checkout", clock.now()).error_ratio`."""
        return self.observatory.telemetry if self.observatory is not None else None

    @property
    def url(self) -> str:
        """The sandbox page."""
        assert self.app is not None, "the sandbox is not started"
        return f"{self.app.url}/sandbox"

    def _populate_workspace(self) -> None:
        slack = self.slack
        for persona in PERSONAS:
            uid = slack.add_user(persona.handle, real_name=persona.real_name)
            self.people[uid] = replace(persona, user_id=uid)
        everyone = list(self.people)
        for name in (BROADCAST, ALERTS, WAR_ROOM):
            self.channels[name] = slack.add_channel(name, members=everyone)
        self.oncall_group = slack.add_usergroup(
            "oncall", [uid for uid, p in self.people.items() if p.role == "responder"]
        )

    def _settings(self) -> Settings:
        data_dir = Path(".")
        if self.options.redis is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fireline-sandbox-")
            data_dir = Path(self._tmp.name)
        values: dict[str, Any] = {
            **self.wiring.settings(),
            "redis_url": None,
            "redis_prefix": self.options.redis_prefix,
            "data_dir": data_dir,
            "broadcast_channel": self.channels[BROADCAST],
            "alerts_channel": self.channels[ALERTS],
            "webhook_token": self.webhook_token,
            "instance_name": "sandbox",
            "oncall_groups": f"P0={self.oncall_group},P1={self.oncall_group}",
            "policy_file": None,
            "alertmanager_url": self.targets.alertmanager_url if self.targets else None,
            **self.options.settings,
        }
        if self.options.http_port is not None:
            values["http_port"] = self.options.http_port
        return load_settings(**values)

    # -- what the page and drills do -----------------------------------------------------------
    def alert_examples(self) -> list[AlertExample]:
        return self.alert_source.examples()

    async def fire_alert(self, example: AlertExample, *, status: str = "firing") -> int:
        """POST the example's Alertmanager notification to the bot's webhook, as Alertmanager
        would (bearer token, JSON); returns the HTTP status the bot answered."""
        assert self.app is not None
        links = {}
        if self.targets is not None:
            links = {
                "graph_url": self.targets.graph_url,
                "external_url": self.targets.alertmanager_url,
            }
        body = notification(example, self.clock.now(), status=status, **links)
        response = await self._http.post(
            f"{self.app.url}/webhooks/alertmanager",
            json=body,
            headers={"Authorization": f"Bearer {self.webhook_token}"},
        )
        return response.status_code
