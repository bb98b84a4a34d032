"""The policy: file validation, the default, user groups, and the role × action × namespace grid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.diagnostics.actions import default_actions
from bot.errors import ConfigurationError, Denied
from bot.policy.authorizer import Authorizer, Scope
from bot.policy.models import (
    Database,
    HealthTarget,
    Policy,
    Prometheus,
    RoleGrant,
    default_policy,
    load_policy,
)
from tests.diagnostics.conftest import (
    ADMIN,
    COMMANDER,
    RESPONDER,
    VIEWER,
    RecordingSlack,
    make_policy,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = [a.name for a in default_actions()]
READS = {"pods", "describe", "events", "top", "rollout-history", "hpa", "endpoints", "health"}
GRANTS = {
    VIEWER: READS,
    RESPONDER: READS | {"logs", "query", "diagnose"},
    COMMANDER: READS | {"logs", "query", "diagnose", "db"},
    ADMIN: set(ACTIONS),
}
# Namespaces: the cluster allows orion-* and kube-system; responders only orion-*.
NAMESPACES = {"orion-prod": "allowed", "kube-system": "role-limited", "payments": "cluster-denied"}
# Targets outside Kubernetes, per action: what kind of scope it names and two of its targets.
TARGET_KIND = {"health": "health", "query": "prometheus", "db": "database"}
TARGETS = {
    "health": ("orion-api", "payments-api"),
    "query": ("error-rate", "memory-trend"),
    "db": ("orders", "ledger"),
}
# Who reaches which of them (a role with no list reaches none: deny by default).
REACH = {
    VIEWER: {"health": {"orion-api"}, "query": set(), "db": set()},
    RESPONDER: {"health": {"orion-api", "payments-api"}, "query": {"error-rate"}, "db": set()},
    COMMANDER: {"health": {"orion-api", "payments-api"}, "query": {"error-rate", "memory-trend"},
                "db": {"orders"}},
    ADMIN: {"health": {"orion-api", "payments-api"}, "query": {"error-rate", "memory-trend"},
            "db": {"orders", "ledger"}},
}  # fmt: skip
# The roles whose lists open each target (what a denial must name).
OPENED_BY = {
    "orion-api": "viewer, responder, commander or admin",
    "payments-api": "responder, commander or admin",
    "error-rate": "responder, commander or admin",
    "memory-trend": "commander or admin",
    "orders": "commander or admin",
    "ledger": "admin",
}


def targeted_policy() -> Policy:
    """make_policy() with two targets of each kind, reached per role as REACH says."""
    base = make_policy(
        health={n: HealthTarget(url=f"http://127.0.0.1:9/{n}") for n in TARGETS["health"]},
        databases={n: Database(dsn_env=f"FIRELINE_TEST_{n.upper()}_DSN") for n in TARGETS["db"]},
        prometheus=Prometheus(url="http://127.0.0.1:9"),
    )
    lists: dict[str, dict[str, tuple[str, ...]]] = {
        "viewer": {"health": ("orion-api",), "queries": (), "databases": ()},
        "responder": {"health": ("*",), "queries": ("error-rate",), "databases": ()},
        "commander": {"health": ("*",), "queries": ("error-rate", "memory-trend"),
                      "databases": ("orders",)},
        "admin": {"health": ("*",), "queries": ("*",), "databases": ("*",)},
    }  # fmt: skip
    roles = {name: grant.model_copy(update=lists[name]) for name, grant in base.roles.items()}
    return base.model_validate({**base.model_dump(), "roles": roles})


def test_example_policy_is_valid_and_names_only_real_actions() -> None:
    policy = load_policy(ROOT / "deploy" / "policy.example.yaml", ACTIONS)
    assert set(policy.roles) >= {"viewer", "responder", "commander", "admin"}
    assert policy.prometheus is not None
    assert set(policy.prometheus.queries) == {
        "error-rate", "p95-latency", "memory-trend", "request-rate",
    }  # fmt: skip
    assert policy.roles["viewer"].health == ("orion-api",)
    assert not policy.roles["responder"].reaches("prometheus", "memory-trend")
    assert policy.roles["commander"].reaches("database", "orders")
    assert not policy.roles["responder"].reaches("database", "orders")


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("roles: {viewer: {}}", "roles: roles must define responder, commander, admin"),
        ("roles: [", "is not valid YAML"),
        (
            "roles: {viewer: {users: [alice]}, responder: {}, commander: {}, admin: {}}",
            "roles.viewer.users: 'alice' is not a Slack user ID",
        ),
        (
            "roles: {viewer: {actions: [podz]}, responder: {}, commander: {}, admin: {}}",
            "roles.viewer.actions: 'podz' is not an action",
        ),
        (
            "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
            "databases: {orders: {dsn: 'postgres://u:p@h/db'}}",
            "databases.orders.dsn: Extra inputs are not permitted",
        ),
        (
            "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
            "clusters: {prod: {namespaces: [a], default_namespace: a}}",
            "clusters.prod: set exactly one of context or in_cluster",
        ),
        (
            "roles: {viewer: {health: [orion-apj]}, responder: {}, commander: {}, admin: {}}\n"
            "health: {orion-api: {url: 'http://127.0.0.1:9/h'}}",
            "roles.viewer.health: 'orion-apj' is not defined under health (defined: orion-api)",
        ),
        (
            "roles: {viewer: {}, responder: {databases: [orders]}, commander: {}, admin: {}}",
            "roles.responder.databases: 'orders' is not defined under databases (defined: none",
        ),
        (
            "roles: {viewer: {}, responder: {}, commander: {queries: [eror-rate]}, admin: {}}\n"
            "prometheus: {url: 'http://127.0.0.1:9'}",
            "roles.commander.queries: 'eror-rate' is not defined under prometheus.queries "
            "(defined: error-rate, memory-trend, p95-latency, request-rate)",
        ),
        (
            "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
            "rate_limit: {per_minute: 0}",
            "rate_limit.per_minute: Input should be greater than or equal to 1 (value: 0)",
        ),
    ],
)
def test_policy_errors_name_file_field_and_value(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigurationError) as err:
        load_policy(path, ACTIONS)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_secret_values_never_echoed_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
        "databases: {orders: {dsn: {url: 'postgres://u:hunter2@h/db'}}}"
    )
    with pytest.raises(ConfigurationError) as err:
        load_policy(path, ACTIONS)
    assert "hunter2" not in str(err.value)


async def test_default_policy_reaches_nothing() -> None:
    policy = default_policy()
    assert policy.clusters == {} and policy.prometheus is None and not policy.databases
    auth = Authorizer(policy, RecordingSlack().usergroup_members)
    assert await auth.roles_of("UANYONE1") == ["viewer"]
    # Listed as the incident verbs' refusals list them, not "responder or commander or admin".
    with pytest.raises(Denied, match="`logs` needs the role responder, commander or admin;"):
        await auth.check("UANYONE1", "logs", [])


@pytest.mark.parametrize("user", list(GRANTS))
@pytest.mark.parametrize("action", [a for a in ACTIONS if a not in TARGET_KIND])
@pytest.mark.parametrize("namespace", list(NAMESPACES))
async def test_policy_matrix(user: str, action: str, namespace: str) -> None:
    auth = Authorizer(targeted_policy(), RecordingSlack().usergroup_members)
    scope = Scope("kubernetes", "x", cluster="test", namespace=namespace)
    allowed_action = action in GRANTS[user]
    kind = NAMESPACES[namespace]
    allowed_ns = kind == "allowed" or (kind == "role-limited" and user != RESPONDER)
    if allowed_action and allowed_ns:
        assert await auth.check(user, action, [scope])
        return
    with pytest.raises(Denied) as denial:
        await auth.check(user, action, [scope])
    message = str(denial.value)
    if not allowed_action:
        assert f"`{action}` needs the role" in message
    elif kind == "cluster-denied":
        assert f"Namespace `{namespace}` is not open to Fireline in cluster `test`" in message
    else:
        assert f"do not cover namespace `{namespace}`" in message
        assert "commander or admin" in message or "viewer" in message


@pytest.mark.parametrize("user", list(GRANTS))
@pytest.mark.parametrize(
    ("action", "target"), [(a, t) for a, targets in TARGETS.items() for t in targets]
)
async def test_policy_matrix_of_targets(user: str, action: str, target: str) -> None:
    """Each role × each action that reaches outside Kubernetes × an allowed and a forbidden
    target: health-check targets, named queries and databases are granted per role."""
    auth = Authorizer(targeted_policy(), RecordingSlack().usergroup_members)
    scope = Scope(TARGET_KIND[action], target)  # type: ignore[arg-type]
    if action not in GRANTS[user]:
        with pytest.raises(Denied, match=f"`{action}` needs the role"):
            await auth.check(user, action, [scope])
        return
    if target in REACH[user][action]:
        assert await auth.check(user, action, [scope])
        return
    with pytest.raises(Denied) as denial:
        await auth.check(user, action, [scope])
    label = {"health": "health-check target", "query": "query", "db": "database"}[action]
    field = {"health": "health", "query": "queries", "db": "databases"}[action]
    message = str(denial.value)
    assert f"do not reach {label} `{target}`; {OPENED_BY[target]} would" in message
    assert f"your role's `{field}`" in message


async def test_health_all_is_denied_naming_the_target_the_role_does_not_reach() -> None:
    auth = Authorizer(targeted_policy(), RecordingSlack().usergroup_members)
    scopes = [Scope("health", n) for n in TARGETS["health"]]
    with pytest.raises(Denied, match="health-check target `payments-api`"):
        await auth.check(VIEWER, "health", scopes)
    assert await auth.check(RESPONDER, "health", scopes) == ["responder"]


def test_role_targets_default_to_none() -> None:
    grant = RoleGrant(actions=("health", "query", "db"))
    assert not grant.reaches("health", "orion-api")
    assert not grant.reaches("prometheus", "error-rate")
    assert not grant.reaches("database", "orders")
    assert RoleGrant(health=("*",)).reaches("health", "anything")


async def test_group_membership_grants_roles_and_is_cached_briefly() -> None:
    slack = RecordingSlack(groups={"S0ONCALL": ["UONCALL1"]})
    now = [0.0]
    auth = Authorizer(make_policy(), slack.usergroup_members, monotonic=lambda: now[0])
    assert "responder" in await auth.roles_of("UONCALL1")
    await auth.roles_of("UONCALL1")
    assert slack.group_calls == 1
    slack.groups["S0ONCALL"] = []
    now[0] = 61
    assert "responder" not in await auth.roles_of("UONCALL1")
    assert slack.group_calls == 2


async def test_unlisted_person_is_denied_with_the_roles_that_would_allow() -> None:
    auth = Authorizer(make_policy(), RecordingSlack().usergroup_members)
    with pytest.raises(Denied) as denial:
        await auth.check("UNOBODY1", "db", [])
    assert str(denial.value).startswith("🚫 `db` needs the role commander or admin; you have none.")


def test_policy_file_setting_must_name_a_file(tmp_path: Path, monkeypatch) -> None:
    from bot.settings import load_settings

    monkeypatch.chdir(tmp_path)
    good = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    with pytest.raises(
        ConfigurationError, match=re.escape("FIRELINE_POLICY_FILE names /nope/policy.yaml")
    ):
        load_settings(**good, FIRELINE_POLICY_FILE="/nope/policy.yaml")
    path = tmp_path / "policy.yaml"
    path.write_text("roles: {viewer: {}, responder: {}, commander: {}, admin: {}}")
    assert load_settings(**good, FIRELINE_POLICY_FILE=str(path)).policy_file == path


def test_app_refuses_to_start_with_an_invalid_policy(tmp_path: Path, monkeypatch) -> None:
    from redis.asyncio import Redis

    from bot.app import Deps, create_app
    from bot.settings import load_settings
    from bot.store.server import RedisHandle

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "policy.yaml"
    path.write_text("roles: {viewer: {actions: [rm-rf]}, responder: {}, commander: {}, admin: {}}")
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", FIRELINE_POLICY_FILE=str(path)
    )
    with pytest.raises(ConfigurationError, match=r"roles.viewer.actions: 'rm-rf' is not an action"):
        create_app(settings, Deps(redis=RedisHandle(client=Redis(), description="unused")))


def test_dsn_comes_from_the_environment_or_a_file(tmp_path: Path, monkeypatch) -> None:
    from bot.settings import read_secret

    monkeypatch.setenv("FIRELINE_TEST_SECRET_DSN", "host=127.0.0.1")
    from_env = read_secret(env="FIRELINE_TEST_SECRET_DSN")
    assert from_env is not None and from_env.get_secret_value() == "host=127.0.0.1"
    (tmp_path / "dsn").write_text("host=127.0.0.1 dbname=x\n")
    from_file = read_secret(file=tmp_path / "dsn")
    assert from_file is not None and from_file.get_secret_value() == "host=127.0.0.1 dbname=x"
    assert read_secret(env="FIRELINE_TEST_UNSET_DSN") is None
    assert "127.0.0.1" not in repr(read_secret(file=tmp_path / "dsn"))
