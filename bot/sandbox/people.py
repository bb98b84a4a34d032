"""Who a person can be in the sandbox, and the policy that gives each of them their role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.policy.alerts import AlertPolicy
from bot.policy.incidents import IncidentPolicy
from bot.policy.models import ALL_ACTIONS, Cluster, Policy, RoleGrant
from bot.policy.remediation import RemediationPolicy, RemediationRule
from bot.remediation.actions import default_remediations

if TYPE_CHECKING:
    from bot.sandbox.observatory import Targets

READS = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints")
SIMULATED = "sandbox"
"""The simulated cluster's name in the policy (its context is never read from a kubeconfig)."""
NAMESPACE = "orion-prod"


@dataclass(frozen=True)
class Persona:
    handle: str
    real_name: str
    role: str | None
    """The policy role this person holds (None: someone with no role at all)."""
    about: str
    user_id: str = ""


PERSONAS = (
    Persona("riley", "Riley Responder", "responder", "on call: diagnoses, declares"),
    Persona("casey", "Casey Commander", "commander", "runs the incident"),
    Persona("avery", "Avery Approver", "approver", "approves remediations"),
    Persona("nico", "Nico Newcomer", None, "no role: sees what is refused"),
)


def sandbox_policy(
    people: dict[str, Persona],
    cluster: Cluster,
    cluster_name: str,
    *,
    simulated: bool = True,
    observability: Targets | None = None,
) -> Policy:
    """Each persona's role; one cluster (simulated, or the person's own read-only).

    On the simulated cluster remediation is on, with the two-person rule as production has it:
    responders and commanders request, the approver and the commander approve, nobody approves
    their own request. A real cluster chosen with `--cluster` gets no remediation at all.
    `observability` (the simulated cluster's Prometheus, health endpoints and the local
    PostgreSQL) is reachable by responders and commanders; `db` by commanders.

    The incident lifecycle: responders and commanders run it, only commanders give others a
    role, the approver may declare and add to the record; Nico, in no role, can do none of it.
    """

    def users(role: str) -> tuple[str, ...]:
        return tuple(p.user_id for p in people.values() if p.role == role)

    diagnose = (*READS, "logs", "health", "query", "diagnose")
    reach = {"health": (ALL_ACTIONS,), "queries": (ALL_ACTIONS,)}
    return Policy(
        roles={
            "viewer": RoleGrant(actions=READS),
            "responder": RoleGrant(users=users("responder"), actions=diagnose, **reach),
            "commander": RoleGrant(
                users=users("commander"),
                actions=(*diagnose, "db"),
                databases=(ALL_ACTIONS,),
                **reach,
            ),
            "approver": RoleGrant(users=users("approver"), actions=READS),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={cluster_name: cluster},
        prometheus=observability.prometheus if observability else None,
        health=dict(observability.health) if observability else {},
        databases=dict(observability.databases) if observability else {},
        alerts=AlertPolicy(run_as="responder"),
        incidents=IncidentPolicy(
            declare=("viewer", "responder", "commander", "approver", "admin"),
            update=("responder", "commander", "approver", "admin"),
        ),
        remediation=RemediationPolicy(
            enabled=simulated,
            actions={
                action: RemediationRule(
                    request_roles=("responder", "commander"),
                    approve_roles=("approver", "commander"),
                    namespaces=("orion-*",),
                    cooldown_minutes=1.0,
                )
                for action in (r.name for r in default_remediations())
            }
            if simulated
            else {},
        ),
    )


def simulated_cluster() -> Cluster:
    return Cluster(context=SIMULATED, namespaces=("orion-*",), default_namespace=NAMESPACE)


def kubeconfig_cluster(context: str, namespace: str = "default") -> Cluster:
    """The person's own cluster, through their kubeconfig context; read-only (the sandbox
    policy enables no remediation)."""
    return Cluster(context=context, namespaces=("*",), default_namespace=namespace)
