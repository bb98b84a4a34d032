"""What tests and the sandbox may replace when they build a bot (`Deps`); production leaves
all defaults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.actions.base import Action
from bot.clock import Clock, SystemClock
from bot.diagnostics.actions import default_actions
from bot.gateways.kubernetes import DEFAULT_TIMEOUT_S, KubeGateway, api_client_for
from bot.playbooks.models import Playbooks
from bot.policy.models import Cluster, Policy
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import AnyRemediation
from bot.store.server import RedisHandle

log = logging.getLogger(__name__)


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


class KubeGateways:
    """One gateway per cluster, built on first use (a missing or broken kubeconfig fails that
    action only), each keeping by a watch the pods of the namespaces `diagnose` looks into
    (bot/gateways/pod_watch.py); `aclose` stops the watches and closes the connections when
    the bot stops."""

    def __init__(self, policy: Policy, deps: Deps) -> None:
        self.policy = policy
        self.deps = deps
        self.built: dict[str, KubeGateway] = {}

    def __call__(self, name: str) -> KubeGateway:
        if name not in self.built:
            api = self.deps.kube_clients.get(name) or api_client_for(self.policy.clusters[name])
            return self._keep(name, api)
        return self.built[name]

    def _keep(self, name: str, api: Any) -> KubeGateway:
        if name not in self.built:  # built meanwhile by an action: that one is kept
            self.built[name] = KubeGateway(
                api,
                attempts=self.deps.kube_attempts,
                timeout_s=self.deps.kube_timeout_s,
                keep_pods=True,
            )
        return self.built[name]

    async def watch_named(self) -> None:
        """Watch the pods of every namespace the policy names outright (and each cluster's
        default), so that the first diagnosis there already knows them; a namespace reached
        only by a pattern (`orion-*`) is watched from its first diagnosis on. A cluster whose
        kubeconfig cannot be loaded is logged and left out (its actions say why when run);
        loading one may run its credential plugin, so that is done in a thread."""
        for name, cluster in self.policy.clusters.items():
            gateway = self.built.get(name)
            if gateway is None:
                try:
                    api = self.deps.kube_clients.get(name) or await asyncio.to_thread(
                        api_client_for, cluster
                    )
                except Exception as exc:  # a broken kubeconfig must not stop the bot
                    log.warning("pods of cluster %s not watched: %s", name, exc)
                    continue
                gateway = self._keep(name, api)
            for namespace in named_namespaces(cluster):
                gateway.watch_pods(namespace)

    async def aclose(self) -> None:
        for gateway in self.built.values():
            await gateway.aclose()


def named_namespaces(cluster: Cluster) -> list[str]:
    """The namespaces a cluster's policy names outright (not by a pattern), its default first:
    those whose pods the bot watches from start-up."""
    named = [n for n in cluster.namespaces if not any(c in n for c in "*?[")]
    return list(dict.fromkeys([cluster.default_namespace, *named]))


def kube_factory(policy: Policy, deps: Deps) -> KubeGateways:
    return KubeGateways(policy, deps)
