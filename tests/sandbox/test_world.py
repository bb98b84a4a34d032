"""The sandbox's wiring: alert payloads as Alertmanager sends them, the workspace delivering
what Fireline's Slack app subscribes to, the simulated cluster reacting in sandbox time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from bot.sandbox.alerts import (
    AlertExample,
    AllExamples,
    ExampleFile,
    PlaybookExamples,
    notification,
)
from bot.sandbox.clock import ScaledClock
from bot.sandbox.doubles.kubernetes import api_client, deployment_pods
from bot.sandbox.world import BOT_EVENTS, Sandbox
from tests.harness import eventually

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
CAPTURED = ROOT / "tests" / "fixtures" / "alertmanager"


def test_payload_is_what_alertmanager_sends() -> None:
    """Same fields and the same fingerprint as a notification captured from Alertmanager."""
    captured = json.loads((CAPTURED / "firing-single.json").read_text())
    alert = captured["alerts"][0]
    labels = {k: v for k, v in alert["labels"].items() if k != "alertname"}
    example = AlertExample("x", "HighErrorRate", labels, alert["annotations"])
    built = notification(example, datetime(2026, 11, 22, 18, 45, 12, 348640, tzinfo=UTC))
    assert set(built) == set(captured)
    assert set(built["alerts"][0]) == set(alert)
    assert built["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert built["alerts"][0]["startsAt"] == "2026-11-22T18:45:12.348640000Z"
    assert built["groupKey"] == captured["groupKey"]
    assert built["groupLabels"] == captured["groupLabels"]
    for name in ("firing-group-of-3.json",):
        for each in json.loads((CAPTURED / name).read_text())["alerts"]:
            rest = {k: v for k, v in each["labels"].items() if k != "alertname"}
            example = AlertExample("x", each["labels"]["alertname"], rest)
            one = notification(example, datetime.now(UTC))
            assert one["alerts"][0]["fingerprint"] == each["fingerprint"]


def test_the_alert_control_offers_the_simulated_problems_then_one_alert_per_playbook() -> None:
    offered = [e.name for e in AllExamples(ExampleFile(), PlaybookExamples(PLAYBOOKS)).examples()]
    simulated = [e.name for e in ExampleFile().examples()]
    assert offered[: len(simulated)] == simulated
    titles = sorted(yaml.safe_load(p.read_text())["title"] for p in PLAYBOOKS.glob("*.yaml"))
    assert sorted(offered[len(simulated) :]) == [f"Playbook: {t}" for t in titles]
    assert len(titles) >= 12


def test_playbook_examples_are_read_from_the_playbooks(tmp_path: Path) -> None:
    (tmp_path / "oom.yaml").write_text(
        yaml.safe_dump(
            {"title": "OOM", "example": {"alertname": "KubePodOOMKilled", "labels": {"a": "b"}}}
        )
    )
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump({"name": "no example here"}))
    found = PlaybookExamples(tmp_path).examples()
    assert found == [AlertExample("Playbook: OOM", "KubePodOOMKilled", {"a": "b"}, {})]
    assert len(ExampleFile().examples()) == 5  # the built-in ones, one per simulated problem


def test_sandbox_delivers_the_events_the_slack_app_subscribes_to() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == BOT_EVENTS


async def test_scaled_clock_runs_faster_and_sleeps_shorter() -> None:
    clock = ScaledClock(100.0)
    before = clock.now()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await clock.sleep(30)  # 0.3 s real
    assert 0.25 <= loop.time() - started < 1.0
    assert (clock.now() - before).total_seconds() >= 30
    with pytest.raises(ValueError, match="above 0"):
        ScaledClock(0)


@pytest.fixture
def speed() -> float:
    return 20.0  # the pod becomes Ready 8 sandbox seconds after it is created: 0.4 s


async def test_simulated_cluster_replaces_a_deleted_pod_in_sandbox_time(sandbox: Sandbox) -> None:
    assert sandbox.cluster is not None and sandbox.kube is not None
    core = k8s.CoreV1Api(api_client(sandbox.kube.base_url))
    victim = deployment_pods(sandbox.cluster, "orion-prod", "checkout")[0]["metadata"]["name"]
    await asyncio.to_thread(core.delete_namespaced_pod, victim, "orion-prod")

    def ready_replacement() -> list[str]:
        pods = deployment_pods(sandbox.cluster, "orion-prod", "checkout")  # type: ignore[arg-type]
        names = [p["metadata"]["name"] for p in pods]
        ready = [
            p
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
        ]
        return names if victim not in names and len(ready) == 3 else []

    assert len(await eventually(ready_replacement, 5.0, "a Ready replacement pod")) == 3
