"""The policy: file validation, the default, user groups, and the role × action × namespace grid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.actions import default_actions
from bot.authorizer import Authorizer, Scope
from bot.errors import ConfigurationError, Denied
from bot.policy import default_policy, load_policy
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


def test_example_policy_is_valid_and_names_only_real_actions() -> None:
    policy = load_policy(ROOT / "deploy" / "policy.example.yaml", ACTIONS)
    assert set(policy.roles) >= {"viewer", "responder", "commander", "admin"}
    assert set(policy.prometheus.queries) == {
        "error-rate", "p95-latency", "memory-trend", "request-rate",
    }  # fmt: skip


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
    with pytest.raises(Denied, match="`logs` needs the role responder or commander or admin"):
        await auth.check("UANYONE1", "logs", [])


@pytest.mark.parametrize("user", list(GRANTS))
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("namespace", list(NAMESPACES))
async def test_policy_matrix(user: str, action: str, namespace: str) -> None:
    auth = Authorizer(make_policy(), RecordingSlack().usergroup_members)
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
    from bot.redis_server import RedisHandle
    from bot.settings import load_settings

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
    assert read_secret(env="FIRELINE_TEST_SECRET_DSN").get_secret_value() == "host=127.0.0.1"
    (tmp_path / "dsn").write_text("host=127.0.0.1 dbname=x\n")
    assert read_secret(file=tmp_path / "dsn").get_secret_value() == "host=127.0.0.1 dbname=x"
    assert read_secret(env="FIRELINE_TEST_UNSET_DSN") is None
    assert "127.0.0.1" not in repr(read_secret(file=tmp_path / "dsn"))
