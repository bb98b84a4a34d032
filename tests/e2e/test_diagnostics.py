"""Diagnostics end to end: `/incident <action>` typed in the Slack double, signed delivery to the
running bot, the bot reading the Kubernetes double over HTTP (every object it serves checked
against the Kubernetes schemas), and the answer shown in Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.app import Deps, Fireline, create_app
from bot.emulator.kubernetes import KubernetesDouble, api_client
from bot.emulator.slack import SlackDouble
from bot.policy import RoleGrant
from bot.redis_server import RedisHandle
from tests.diagnostics.conftest import make_policy
from tests.diagnostics.scenario import new_cluster, task_service_incident
from tests.e2e.harness import eventually, settings_for
from tests.emulator.kubernetes.conftest import SchemaValidator


@dataclass
class World:
    slack: SlackDouble
    app: Fireline
    kube: KubernetesDouble
    oncall: str
    viewer: str
    room: str

    async def type(self, user: str, text: str, channel: str | None = None) -> None:
        await self.slack.slash_command(user, channel or self.room, text)
        assert await self.app.drain(10.0)

    def told(self, user: str) -> list[str]:
        return [e.text or "" for e in self.slack.ephemerals(user_id=user)]


@pytest.fixture
async def world(slack: SlackDouble, redis_handle: RedisHandle, prefix: str) -> AsyncIterator[World]:
    cluster = new_cluster()
    task_service_incident(cluster)
    validator = SchemaValidator()
    kube = KubernetesDouble(cluster, on_serve=validator)
    kube.start()
    oncall, viewer = slack.add_user("olive"), slack.add_user("victor")
    group = slack.add_usergroup("oncall", [oncall])
    room = slack.add_channel("war-room", members=[oncall, viewer])
    base = make_policy()
    roles = dict(base.roles)
    roles["responder"] = roles["responder"].model_copy(update={"groups": (group,), "users": ()})
    roles["viewer"] = RoleGrant(users=(viewer,), actions=("pods", "events"))
    policy = base.model_copy(update={"roles": roles})
    deps = Deps(redis=redis_handle, policy=policy, kube_clients={"test": api_client(kube.base_url)})
    broadcast = slack.add_channel("incidents", members=[oncall])
    app = create_app(settings_for(slack, broadcast, redis_prefix=prefix), deps)
    await app.start()
    slack.request_url = f"{app.url}/slack/events"
    yield World(slack, app, kube, oncall, viewer, room)
    await app.stop()
    kube.stop()
    assert not validator.errors, "\n".join(validator.errors)


async def test_group_member_runs_logs_and_gets_the_report_with_a_file_in_thread(world) -> None:
    await world.type(world.oncall, "logs task-service --since 30m")
    posted = await eventually(
        lambda: [m for m in world.slack.messages(world.room) if "Logs of" in m.get("text", "")]
    )
    message = posted[0]
    assert len(message["blocks"]) <= 50
    flat = str(message["blocks"])
    assert "Error patterns" in flat and "hunter2" not in flat and "[redacted]" in flat
    files = await eventually(lambda: list(world.slack.ws.files.values()))
    assert files[0].filename == "logs-task-service.txt"
    assert b"hunter2" not in world.slack.file_content(files[0].id)
    audit = await world.app.services.store.audit_log()
    assert audit[0]["action"] == "logs" and audit[0]["user"] == world.oncall


async def test_viewer_is_denied_logs_with_what_is_missing(world) -> None:
    await world.type(world.viewer, "logs task-service")
    text = await eventually(lambda: next((t for t in world.told(world.viewer) if "🚫" in t), None))
    assert "`logs` needs the role responder or commander or admin; you have viewer" in text
    assert not [m for m in world.slack.messages(world.room) if "Logs of" in m.get("text", "")]


async def test_bad_input_is_an_ephemeral_saying_what_to_type(world) -> None:
    response = await world.slack.slash_command(world.viewer, world.room, "pods")
    assert "Say which target: `/incident pods <deployment|label-selector>" in str(response)
    response = await world.slack.slash_command(world.viewer, world.room, "pods task-svc")
    await world.app.drain(5.0)
    text = await eventually(
        lambda: next((t for t in world.told(world.viewer) if "did you mean" in t), None)
    )
    assert text == "No deployment `task-svc` in `orion-prod`; did you mean `task-service`?"


async def test_run_in_an_incident_channel_lands_on_its_timeline(world) -> None:
    await world.type(world.oncall, "declare P1 tasks failing")
    channel = await eventually(
        lambda: next(
            (c.id for c in world.slack.ws.channels.values() if c.name.startswith("inc-")), None
        )
    )
    store = world.app.services.store
    incident = await store.find_by_channel(channel)
    assert incident is not None
    await world.type(world.oncall, "pods task-service", channel=channel)
    timeline = await store.timeline(incident.id)
    assert any(e.kind == "diagnostic" and "3/5 pods ready" in e.text for e in timeline)
    posted = [m for m in world.slack.messages(channel) if "Pods of" in m.get("text", "")]
    assert posted and "3/5 pods ready" in posted[0]["text"]
