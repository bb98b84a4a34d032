"""Who a person can be in the sandbox, and the policy that gives each of them their role."""

from __future__ import annotations

from dataclasses import dataclass

from bot.policy import ALL_ACTIONS, Cluster, Policy, RoleGrant

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


def sandbox_policy(people: dict[str, Persona], cluster: Cluster, cluster_name: str) -> Policy:
    """Each persona's role; one cluster (simulated, or the person's own read-only)."""

    def users(role: str) -> tuple[str, ...]:
        return tuple(p.user_id for p in people.values() if p.role == role)

    diagnose = (*READS, "logs", "health", "query", "diagnose")
    return Policy(
        roles={
            "viewer": RoleGrant(actions=READS),
            "responder": RoleGrant(users=users("responder"), actions=diagnose),
            "commander": RoleGrant(users=users("commander"), actions=(*diagnose, "db")),
            "approver": RoleGrant(users=users("approver"), actions=READS),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={cluster_name: cluster},
    )


def simulated_cluster() -> Cluster:
    return Cluster(context=SIMULATED, namespaces=("orion-*",), default_namespace=NAMESPACE)


def kubeconfig_cluster(context: str, namespace: str = "default") -> Cluster:
    """The person's own cluster, through their kubeconfig context; read-only (the sandbox
    policy enables no remediation)."""
    return Cluster(context=context, namespaces=("*",), default_namespace=namespace)
