"""Diagnostics end to end: `/incident <action>` typed in the Slack double, signed delivery to the
running bot, the bot reading the Kubernetes double over HTTP (every object it serves checked
against the Kubernetes schemas), and the answer shown in Slack."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.blockkit import unescape
from bot.policy.models import Prometheus, RoleGrant
from tests.diagnostics.conftest import make_policy
from tests.diagnostics.prometheus_api import prometheus_app, serve
from tests.diagnostics.scenario import new_cluster, task_service_incident
from tests.harness import Builder, Harness, eventually
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator


@pytest.fixture
async def prometheus() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A Prometheus HTTP API on loopback: its URL, and the range queries it was asked."""
    state: dict[str, Any] = {}
    server = serve(prometheus_app(state))
    url = await server.__aenter__()
    yield url, state.setdefault("calls", [])
    await server.__aexit__(None, None, None)


@pytest.fixture
async def world(
    build: Callable[..., Builder], prometheus: tuple[str, list[dict[str, str]]]
) -> AsyncIterator[Harness]:
    """oncall (@olive, responder through the @oncall group) and viewer (@victor: pods and
    events) in #war-room; the task-service incident on the cluster; Prometheus."""
    cluster = new_cluster()
    task_service_incident(cluster)
    validator = SchemaValidator()
    builder = (
        build().people(oncall="olive", viewer="victor").usergroup("group", "oncall", ["oncall"])
    )
    builder.channel("room", "war-room").channel("broadcast", "incidents", members=["oncall"])
    base = make_policy()
    roles = dict(base.roles)
    group = builder.ids["group"]
    roles["responder"] = roles["responder"].model_copy(update={"groups": (group,), "users": ()})
    roles["viewer"] = RoleGrant(users=(builder.ids["viewer"],), actions=("pods", "events"))
    url, _ = prometheus
    policy = base.model_copy(update={"roles": roles, "prometheus": Prometheus(url=url)})
    h = await builder.kubernetes(cluster, on_serve=validator).policy(policy).playbooks(None).start()
    yield h
    await h.close()
    assert not validator.errors, "\n".join(validator.errors)


def told(world: Harness, user: str) -> list[str]:
    """The texts `user` was shown privately (their text only)."""
    return [e.text or "" for e in world.slack.ephemerals(user_id=user)]


async def test_group_member_runs_logs_and_gets_the_report_with_a_file_in_thread(world) -> None:
    await world.command(world.oncall, "logs task-service --since 30m")
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
    await world.command(world.viewer, "logs task-service")
    text = await eventually(lambda: next((t for t in told(world, world.viewer) if "🚫" in t), None))
    assert "`logs` needs the role responder, commander or admin; you have viewer" in text
    assert not [m for m in world.slack.messages(world.room) if "Logs of" in m.get("text", "")]


async def test_bad_input_is_an_ephemeral_saying_what_to_type(world) -> None:
    response = await world.slack.slash_command(world.viewer, world.room, "pods")
    said = unescape(str(response))
    assert "Say which target: `/incident pods <deployment|label-selector>" in said
    response = await world.slack.slash_command(world.viewer, world.room, "pods task-svc")
    await world.app.drain(5.0)
    text = await eventually(
        lambda: next((t for t in told(world, world.viewer) if "did you mean" in t), None)
    )
    assert text == "No deployment `task-svc` in `orion-prod`; did you mean `task-service`?"


async def test_run_in_an_incident_channel_lands_on_its_timeline(world) -> None:
    await world.command(world.oncall, "declare P1 tasks failing")
    channel = await eventually(
        lambda: next(
            (c.id for c in world.slack.ws.channels.values() if c.name.startswith("inc-")), None
        )
    )
    store = world.app.services.store
    incident = await store.find_by_channel(channel)
    assert incident is not None
    await world.command(world.oncall, "pods task-service", channel=channel)
    timeline = await store.timeline(incident.id)
    assert any(e.kind == "diagnostic" and "3/5 pods ready" in e.text for e in timeline)
    posted = [m for m in world.slack.messages(channel) if "Pods of" in m.get("text", "")]
    assert posted and "3/5 pods ready" in posted[0]["text"]


async def test_query_chart_is_a_png_of_the_series_uploaded_into_the_thread(
    world, prometheus
) -> None:
    """`query` through Slack: the answer in the channel, the chart uploaded by Slack's external
    upload flow into that message's thread, and the image really drawn from the series."""
    from PIL import Image

    await world.command(world.oncall, "query error-rate --range 30")
    message = await eventually(
        lambda: next(
            (m for m in world.slack.messages(world.room) if "error-rate" in m.get("text", "")),
            None,
        )
    )
    assert "task-service" in str(message["blocks"])  # the latest values, highest first
    sent = prometheus[1][0]
    assert float(sent["end"]) - float(sent["start"]) == 30 * 60
    # Slack's v2 upload: ask for a URL, POST the bytes there, complete into the thread.
    asked = world.slack.calls("files.getUploadURLExternal")
    assert [c.args["filename"] for c in asked] == ["error-rate.png"]
    completed = await eventually(lambda: world.slack.calls("files.completeUploadExternal"))
    assert completed[0].ok and completed[0].args["channel_id"] == world.room
    assert completed[0].args["thread_ts"] == message["ts"]
    thread = world.slack.thread(world.room, message["ts"])
    shared = [f for reply in thread[1:] for f in reply.get("files", [])]
    assert [f["name"] for f in shared] == ["error-rate.png"]
    png = world.slack.file_content(shared[0]["id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and int(asked[0].args["length"]) == len(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (800, 320)
    # Two series, drawn in matplotlib's first two colours: task-service (~6 %) high on the
    # plot, orion-api (~0.2 %) low. Right of the legend, each colour is one line.
    rows: dict[tuple[int, int, int], list[int]] = {
        colour: [] for colour in ((31, 119, 180), (255, 127, 14))
    }
    for x in range(420, 760, 2):
        for y in range(image.height):
            pixel = image.getpixel((x, y))
            assert isinstance(pixel, tuple)  # an RGB image's pixels are triples
            for colour, found in rows.items():
                if all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True)):
                    found.append(y)
    task_service, orion_api = rows.values()
    assert task_service and orion_api, "both series are drawn"
    assert max(task_service) < min(orion_api), "task-service's line lies above orion-api's"
