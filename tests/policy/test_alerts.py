"""The policy's `alerts:` section: validated with the file and field named; routes; run_as."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bot.alerts.payload import parse
from bot.alerts.service import AlertThreads, NoAlertChannel, Route
from bot.errors import ConfigurationError, Denied
from bot.policy.alerts import ALERT_PRINCIPAL
from bot.policy.authorizer import Authorizer, Scope
from bot.policy.models import load_policy

BASE = """
roles:
  viewer: {actions: [pods]}
  responder: {actions: [pods, logs], users: [U0ONCALL1]}
  commander: {actions: [pods, logs]}
  admin: {actions: ["*"]}
clusters:
  prod: {context: prod, namespaces: ["orion-*"], default_namespace: orion-prod}
"""


def policy_file(tmp_path: Path, alerts: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE + textwrap.dedent(alerts))
    return path


def test_the_alerts_section_loads_with_routes_in_order(tmp_path: Path) -> None:
    policy = load_policy(
        policy_file(
            tmp_path,
            """
            alerts:
              run_as: responder
              per_minute: 30
              silence_roles: [responder, admin]
              routes:
                - match: {severity: critical}
                  channel: C0CRITICAL
                - match: {team: payments, namespace: "pay-*"}
                  channel: C0PAYMENTS
            """,
        )
    )
    assert policy.alerts.run_as == "responder" and policy.alerts.per_minute == 30
    assert [r.channel for r in policy.alerts.routes] == ["C0CRITICAL", "C0PAYMENTS"]
    assert policy.alerts.routes[1].matches({"team": "payments", "namespace": "pay-eu"})
    assert not policy.alerts.routes[1].matches({"team": "payments"})


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ("alerts: {run_as: oncall}", "alerts.run_as 'oncall' is not one of the roles"),
        ("alerts: {silence_roles: [sre]}", "alerts.silence_roles: 'sre' is not one of the roles"),
        (
            "alerts: {routes: [{match: {severity: critical}, channel: '#alerts'}]}",
            "alerts.routes.0.channel: '#alerts' is not a channel ID",
        ),
        ("alerts: {routes: [{match: {}, channel: C0ALERTS}]}", "alerts.routes.0.match"),
        ("alerts: {route: []}", "alerts.route: Extra inputs are not permitted"),
        ("alerts: {per_minute: 0}", "alerts.per_minute"),
    ],
)
def test_mistakes_in_the_alerts_section_stop_start_up(
    tmp_path: Path, alerts: str, expected: str
) -> None:
    path = policy_file(tmp_path, alerts)
    with pytest.raises(ConfigurationError) as raised:
        load_policy(path)
    assert f"Policy file {path}" in str(raised.value)
    assert expected in str(raised.value)


def test_routing_is_first_match_on_the_groups_common_labels() -> None:
    routes = (Route({"severity": "critical"}, "C0CRIT"), Route({"namespace": "pay-*"}, "C0PAY"))
    # Routing reads only the routes: the stores, Slack, clock and writer are deliberately absent.
    threads = AlertThreads(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        fallback_channel=None,
        routes=routes,
        consumer="test",
        writer=None,  # type: ignore[arg-type]
    )

    def route(**labels: str) -> str:
        body = {"version": "4", "groupKey": "k", "status": "firing", "alerts": []}
        return threads.route(parse(json.dumps({**body, "commonLabels": labels}).encode()))

    assert route(severity="critical", namespace="pay-eu") == "C0CRIT"
    assert route(severity="warning", namespace="pay-eu") == "C0PAY"
    with pytest.raises(NoAlertChannel):
        route(severity="warning", namespace="orion-prod")
    threads.fallback_channel = "C0ALERTS"
    assert route(namespace="orion-prod") == "C0ALERTS"


async def test_the_alert_pipeline_holds_exactly_the_run_as_role(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, "alerts: {run_as: viewer}"))

    async def members(group: str) -> list[str]:
        return []

    authorizer = Authorizer(policy, members, principals={ALERT_PRINCIPAL: (policy.alerts.run_as,)})
    assert await authorizer.roles_of(ALERT_PRINCIPAL) == ["viewer"]
    scope = Scope("kubernetes", "task-service", cluster="prod", namespace="orion-prod")
    assert await authorizer.check(ALERT_PRINCIPAL, "pods", [scope]) == ["viewer"]
    with pytest.raises(Denied):
        await authorizer.check(ALERT_PRINCIPAL, "logs", [scope])
    assert await authorizer.roles_of("U0ONCALL1") == ["responder"]
