"""A running Fireline with the shipped playbooks, the Slack double, the Kubernetes double's
`orion-prod` scenario and real Redis; people with different roles and alert routes
(the `make_world` fixture in tests/conftest.py builds it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.diagnostics.actions import default_actions
from bot.playbooks.loader import load_playbooks, params_models
from bot.playbooks.models import Example, Playbooks
from bot.policy.alerts import AlertPolicy, AlertRoute
from bot.policy.models import Cluster, Policy, RoleGrant
from bot.policy.remediation import RemediationPolicy
from bot.remediation.actions import default_remediations
from bot.sandbox.doubles.kubernetes import Cluster as KubeCluster
from bot.sandbox.doubles.kubernetes import ManualClock, Timing, orion_prod
from bot.settings import DEFAULT_PLAYBOOKS_DIR
from tests.harness import Builder, Harness

SHIPPED = load_playbooks(
    DEFAULT_PLAYBOOKS_DIR, params_models(default_actions(), default_remediations())
)
READS = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints")


def notification(example: Example, group_key: str = "", **extra_labels: str) -> dict[str, Any]:
    """An Alertmanager v4 notification carrying a playbook's example alert."""
    labels = {**example.all_labels, **extra_labels}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": example.annotations,
        "startsAt": "2026-11-22T18:45:12Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"fp-{abs(hash(tuple(sorted(labels.items())))):x}",
    }
    return {
        "version": "4",
        "groupKey": group_key or f'{{}}:{{alertname="{example.alertname}"}}',
        "status": "firing",
        "receiver": "fireline",
        "alerts": [alert],
        "groupLabels": {"alertname": example.alertname},
        "commonLabels": labels,
        "commonAnnotations": example.annotations,
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
    }


def world_policy(oncall: str, viewer: str) -> Policy:
    deep = (*READS, "logs", "diagnose", "query", "health", "db")
    return Policy(
        roles={
            "viewer": RoleGrant(users=(viewer,), actions=("pods", "events")),
            "responder": RoleGrant(users=(oncall,), actions=deep, namespaces=("orion-*",)),
            "commander": RoleGrant(actions=deep),
            "admin": RoleGrant(actions=("*",)),
        },
        clusters={
            "test": Cluster(context="test", namespaces=("orion-*",), default_namespace="orion-prod")
        },
        alerts=AlertPolicy(run_as="responder", silence_roles=("responder",), routes=()),
    )


async def alert_world(
    build: Builder,
    playbooks: Playbooks = SHIPPED,
    remediation: RemediationPolicy | None = None,
    **settings: Any,
) -> Harness:
    """oncall (@olive, a responder), viewer (@victor: pods and events only) and outsider
    (@otto: no role) in #war-room (`h.room`), #alerts, #alerts-critical (`h.critical`, routed
    severity=critical), #alerts-payments (`h.payments`, team=payments) and #incidents."""
    build.people(oncall="olive", viewer="victor", outsider="otto")
    build.channel("room", "war-room").channel("alerts")
    build.channel("critical", "alerts-critical").channel("payments", "alerts-payments")
    build.channel("broadcast", "incidents")
    cluster = KubeCluster(
        ManualClock(datetime.now(UTC)), timing=Timing(rollout_step=0.02, pod_ready=0.02)
    )
    orion_prod(cluster)
    policy = world_policy(build.ids["oncall"], build.ids["viewer"])
    routes = (
        AlertRoute(match={"severity": "critical"}, channel=build.ids["critical"]),
        AlertRoute(match={"team": "payments", "namespace": "pay-*"}, channel=build.ids["payments"]),
    )
    policy = policy.model_copy(
        update={"alerts": policy.alerts.model_copy(update={"routes": routes})}
    )
    if remediation is not None:
        policy = policy.model_copy(update={"remediation": remediation})
    return await (
        build.kubernetes(cluster).policy(policy).playbooks(playbooks).settings(**settings).start()
    )
