"""Who may run which action against what: the policy file, validated once at start-up.

The policy is data (YAML, `FIRELINE_POLICY_FILE`), never code. It grants roles to Slack user IDs
and user-group IDs, says which actions each role may run and in which namespaces, lists the
clusters and the namespaces each allows, and names every other target an action may touch
(Prometheus and its queries, health endpoints, databases). An action can only reach a target
the policy names: there is no way to type a URL, a DSN or a kubeconfig into Slack.

`bot.authorizer` applies it. This module never reads a secret: a database names the
environment variable or file its DSN comes from, and the settings module reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigurationError
from bot.policy.alerts import AlertPolicy
from bot.policy.incidents import IncidentPolicy
from bot.policy.remediation import RemediationPolicy

REQUIRED_ROLES = ("viewer", "responder", "commander", "admin")
ALL_ACTIONS = "*"
GROUP_CACHE_S = 60.0
TargetKind = Literal["health", "database", "prometheus"]
TARGET_FIELDS: dict[str, str] = {
    "health": "health",
    "database": "databases",
    "prometheus": "queries",
}
"""A non-Kubernetes target kind → the role field that lists the targets of that kind."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RoleGrant(_Strict):
    """One role: who holds it, what it may run, where."""

    users: tuple[str, ...] = ()
    """Slack user IDs (`U…`/`W…`) that hold this role."""

    groups: tuple[str, ...] = ()
    """Slack user-group IDs (`S…`); every member holds this role."""

    actions: tuple[str, ...] = ()
    """Action names this role may run; `*` means every action."""

    namespaces: tuple[str, ...] = ("*",)
    """Namespace patterns (shell-style) this role may look into, within what the cluster allows."""

    health: tuple[str, ...] = ()
    """Health-check targets (names under `health`) this role may check; `*` means all of them.
    Left out: none."""

    databases: tuple[str, ...] = ()
    """Databases (names under `databases`) this role may inspect; `*` means all. Left out: none."""

    queries: tuple[str, ...] = ()
    """Named Prometheus queries (names under `prometheus.queries`) this role may run; `*` means
    all. Left out: none (`diagnose` then leaves its error rate out)."""

    def reaches(self, kind: TargetKind, name: str) -> bool:
        """Whether this role may reach the named target of that kind."""
        allowed = getattr(self, TARGET_FIELDS[kind])
        return ALL_ACTIONS in allowed or name in allowed

    @field_validator("users")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for user in value:
            if user[:1] not in {"U", "W"} or not user.isalnum():
                raise ValueError(f"{user!r} is not a Slack user ID (U0123ABCD)")
        return value

    @field_validator("groups")
    @classmethod
    def _group_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for group in value:
            if not group.startswith("S") or not group.isalnum():
                raise ValueError(f"{group!r} is not a Slack user-group ID (S0123ABCD)")
        return value


class Cluster(_Strict):
    """A Kubernetes cluster Fireline may read."""

    context: str | None = None
    """kubeconfig context to use; unset with `in_cluster: true` uses the pod's ServiceAccount."""

    in_cluster: bool = False
    """Use the in-cluster ServiceAccount instead of a kubeconfig context."""

    namespaces: tuple[str, ...]
    """Namespace patterns (shell-style) actions may look into; nothing else is reachable."""

    default_namespace: str
    """Namespace used when a command gives no `-n`."""

    @model_validator(mode="after")
    def _one_source(self) -> Cluster:
        if self.in_cluster == (self.context is not None):
            raise ValueError("set exactly one of context or in_cluster: true")
        return self


class NamedQuery(_Strict):
    """A PromQL query users run by name."""

    promql: str
    """The PromQL expression; `$service` is replaced by the optional service argument."""

    description: str
    """One line shown in help and above the result."""

    unit: Literal["percent", "seconds", "bytes", "rps", ""] = ""
    """How values are formatted."""

    range_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    """Default time range looked at, in minutes."""

    chart: bool = True
    """Upload a PNG chart of the range (where a trend matters)."""


def default_queries() -> dict[str, NamedQuery]:
    """The queries shipped with Fireline (`$service` is the optional service argument)."""
    sel = 'service=~"$service"'
    return {
        "error-rate": NamedQuery(
            description="5xx share of requests per service",
            promql=f'100 * sum by (service) (rate(http_requests_total{{{sel},code=~"5.."}}[5m])) '
            f"/ sum by (service) (rate(http_requests_total{{{sel}}}[5m]))",
            unit="percent",
        ),
        "p95-latency": NamedQuery(
            description="95th percentile request latency per service",
            promql="histogram_quantile(0.95, sum by (service, le) "
            f"(rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))",
            unit="seconds",
        ),
        "memory-trend": NamedQuery(
            description="working-set memory per pod",
            promql='sum by (pod) (container_memory_working_set_bytes{pod=~"$service.*",'
            'container!=""})',
            unit="bytes",
            range_minutes=180,
        ),
        "request-rate": NamedQuery(
            description="requests per second per service",
            promql=f"sum by (service) (rate(http_requests_total{{{sel}}}[5m]))",
            unit="rps",
        ),
    }


class Prometheus(_Strict):
    """The Prometheus server and the queries users may run."""

    url: str
    """Base URL of the Prometheus HTTP API (…/api/v1 is appended)."""

    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Per-request timeout."""

    queries: dict[str, NamedQuery] = Field(default_factory=default_queries)
    """Named queries; only these can be run. Unset: error-rate, p95-latency, memory-trend and
    request-rate (see `default_queries`)."""


class HealthTarget(_Strict):
    """An HTTP health endpoint users may check."""

    url: str
    """Full URL of the endpoint (GET)."""

    timeout_s: float = Field(default=3.0, gt=0, le=30)
    """Per-request timeout."""

    expect_status: int = 200
    """Status that means healthy."""


class Database(_Strict):
    """A PostgreSQL database users may inspect (read-only)."""

    dsn_env: str | None = None
    """Environment variable holding the DSN."""

    dsn_file: Path | None = None
    """File holding the DSN (a mounted Secret)."""

    statement_timeout_ms: int = Field(default=5000, ge=100, le=60_000)
    """Statement timeout of the read-only session."""

    long_query_s: float = Field(default=30.0, gt=0)
    """Queries running longer than this are listed."""

    @model_validator(mode="after")
    def _one_source(self) -> Database:
        if (self.dsn_env is None) == (self.dsn_file is None):
            raise ValueError("set exactly one of dsn_env or dsn_file (never the DSN itself)")
        return self


class RateLimit(_Strict):
    """How many actions one person may run."""

    per_minute: int = Field(default=20, ge=1)
    """Actions per user per rolling minute."""


class Policy(_Strict):
    """The whole policy file."""

    roles: dict[str, RoleGrant]
    """Role name → grant. viewer, responder, commander and admin must be present."""

    default_role: str | None = None
    """Role everyone in the workspace holds without being listed; unset: none."""

    clusters: dict[str, Cluster] = Field(default_factory=dict)
    """Cluster name → how to reach it and what it allows."""

    default_cluster: str | None = None
    """Cluster used when a command names none; unset: the only one, if there is one."""

    prometheus: Prometheus | None = None
    """Prometheus server; unset: `query` is unavailable."""

    health: dict[str, HealthTarget] = Field(default_factory=dict)
    """Health-check targets by name."""

    databases: dict[str, Database] = Field(default_factory=dict)
    """Database targets by name."""

    rate_limit: RateLimit = RateLimit()
    """Per-user rate limit."""

    remediation: RemediationPolicy = RemediationPolicy()
    """Guarded remediation (restart, scale, rollback, delete-pod); off unless enabled."""
    alerts: AlertPolicy = AlertPolicy()
    """Alert routing, the role alert-triggered diagnostics run as, who may silence."""

    incidents: IncidentPolicy = IncidentPolicy()
    """Who may declare, acknowledge, update, re-grade, assign, command and resolve incidents."""

    @field_validator("roles")
    @classmethod
    def _required_roles(cls, value: dict[str, RoleGrant]) -> dict[str, RoleGrant]:
        missing = [r for r in REQUIRED_ROLES if r not in value]
        if missing:
            raise ValueError(f"roles must define {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.default_role is not None and self.default_role not in self.roles:
            raise ValueError(f"default_role {self.default_role!r} is not one of the roles")
        if self.default_cluster is not None and self.default_cluster not in self.clusters:
            raise ValueError(f"default_cluster {self.default_cluster!r} is not one of the clusters")
        self._role_targets_exist()
        for where, role in self.remediation.roles_named():
            if role not in self.roles:
                raise ValueError(f"{where}: {role!r} is not one of the roles")
        problems = self.alerts.role_errors(self.roles) + self.incidents.role_errors(self.roles)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _role_targets_exist(self) -> None:
        """Every target a role names must be defined: a typo would otherwise deny silently."""
        defined = {
            "health": set(self.health),
            "databases": set(self.databases),
            "queries": set(self.prometheus.queries) if self.prometheus else set(),
        }
        where = {"health": "health", "databases": "databases", "queries": "prometheus.queries"}
        for role, grant in self.roles.items():
            for field, known in defined.items():
                for name in getattr(grant, field):
                    if name != ALL_ACTIONS and name not in known:
                        listed = ", ".join(sorted(known)) or "none defined"
                        raise ValueError(
                            f"roles.{role}.{field}: {name!r} is not defined under "
                            f"{where[field]} (defined: {listed})"
                        )

    @property
    def cluster_name(self) -> str | None:
        if self.default_cluster:
            return self.default_cluster
        return next(iter(self.clusters)) if len(self.clusters) == 1 else None


def default_policy() -> Policy:
    """Used when no policy file is set: nobody is granted anything beyond the read-only viewer
    actions, which everyone holds, and no cluster, Prometheus, health or database target exists —
    so every diagnostic answers that it is not configured rather than reaching anything.
    Remediation is off, so the incident lifecycle is everyone's (the default role holds every
    verb): a team without a policy file keeps working."""
    reads = ("pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints")
    return Policy(
        roles={
            "viewer": RoleGrant(actions=reads),
            "responder": RoleGrant(actions=(*reads, "logs", "health", "query", "diagnose")),
            "commander": RoleGrant(actions=(*reads, "logs", "health", "query", "diagnose", "db")),
            "admin": RoleGrant(
                actions=(ALL_ACTIONS,),
                health=(ALL_ACTIONS,),
                databases=(ALL_ACTIONS,),
                queries=(ALL_ACTIONS,),
            ),
        },
        default_role="viewer",
        incidents=IncidentPolicy.open_to_all(REQUIRED_ROLES),
    )


def load_policy(
    path: Path | None,
    known_actions: Iterable[str] = (),
    remediations: Iterable[str] | None = None,
) -> Policy:
    """Read and validate the policy; every error names the file, the field and the value.

    `known_actions` and `remediations` are the names of the actions the app was built with: the
    roles and the `remediation:` section may name only those (left out: not checked)."""
    if path is None:
        return default_policy()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"Policy file {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"Policy file {path} is not valid YAML: {exc}") from None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(_describe(path, exc)) from None
    known = set(known_actions)
    if known:
        for name, grant in policy.roles.items():
            for action in grant.actions:
                if action != ALL_ACTIONS and action not in known:
                    raise ConfigurationError(
                        f"Policy file {path}: roles.{name}.actions: {action!r} is not an action "
                        f"(known: {', '.join(sorted(known))})"
                    )
    problems = [] if remediations is None else policy.remediation.unknown_actions(remediations)
    if problems:
        raise ConfigurationError(f"Policy file {path} is invalid: " + "; ".join(problems))
    return policy


def _describe(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:
            # Whole-policy checks name their own field and value (roles.viewer.health: 'x' …).
            lines.append(message)
            continue
        where = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (value: {value!r})"
        lines.append(f"{where}: {message}{shown}")
    return f"Policy file {path} is invalid: " + "; ".join(lines)


def summary(policy: Policy) -> dict[str, Any]:
    """A short description of the policy for the start-up log (no secrets in it)."""
    return {
        "roles": sorted(policy.roles),
        "clusters": sorted(policy.clusters),
        "queries": sorted(policy.prometheus.queries) if policy.prometheus else [],
        "health": sorted(policy.health),
        "databases": sorted(policy.databases),
        "incidents": {verb: list(roles) for verb, roles in policy.incidents.model_dump().items()},
    }
