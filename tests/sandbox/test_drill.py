"""Drills a team can win: each drill, played by a scripted team that moves at a person's pace
at the drill's recommended `--speed`, meets every target; its clock starts at Start and stops at
Finished; its report is Block Kit that Slack renders.

Sandbox time stands still except when the test moves it (`ManualSandboxClock`), so every
milestone is measured exactly where the script put it: no tolerance, no timing luck.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.errors import ConfigurationError
from bot.sandbox.drill import DrillRun, available, load_drill, start_drill
from bot.sandbox.world import Sandbox, SandboxOptions
from bot.store.server import RedisHandle
from tests.harness import eventually, flatten
from tests.sandbox.manual import ManualSandboxClock

PACE_S = {"declare": 50, "acknowledge": 70, "diagnose": 110, "mitigate": 300, "resolve": 330}
"""When a practised team gets to each milestone, in real seconds after the alert is on their
screen: read it, open the channel and declare; acknowledge; run a first diagnostic; roll back
(request, a second person approves, the rollout finishes) and say it is mitigated; resolve."""
DIAGNOSTIC = {"checkout-rollout": "logs checkout --since 30m", "memory-leak": "pods task-service"}
"""The first diagnostic the scripted team runs in each drill (a new drill needs its own)."""
MARKDOWN = ("# ", "| --- |", "**")


def persona(sandbox: Sandbox, handle: str) -> str:
    return next(u for u, p in sandbox.people.items() if p.handle == handle)


@pytest.fixture
async def drill_world(
    request: pytest.FixtureRequest, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[tuple[Sandbox, DrillRun, ManualSandboxClock]]:
    drill = load_drill(request.param)
    clock = ManualSandboxClock(drill.speed)
    options = SandboxOptions(
        http_port=0,
        redis=redis_handle,
        redis_prefix=prefix,
        clock=clock,
        real_alertmanager=False,
    )
    sandbox = await Sandbox(options).start()
    run = start_drill(sandbox, drill)
    yield sandbox, run, clock
    await sandbox.stop()


@pytest.mark.slow
@pytest.mark.parametrize("drill_world", available(), indirect=True)
async def test_a_team_at_a_persons_pace_meets_every_target_at_the_recommended_speed(
    drill_world: tuple[Sandbox, DrillRun, ManualSandboxClock],
) -> None:
    sandbox, run, clock = drill_world
    drill, slack = run.drill, sandbox.slack
    riley, casey = persona(sandbox, "riley"), persona(sandbox, "casey")
    room = sandbox.channels["war-room"]

    # Nothing happens before Start, however long the page has been open.
    await clock.advance(600)
    assert run.started is None and not slack.messages(sandbox.channels["alerts"])
    assert run.status()["waiting"] is True
    assert run.begin() is True and run.begin() is False  # a second click changes nothing

    # The alert that starts the drill is posted, and the page points the team at it.
    alert = await eventually(lambda: run.alert, 30.0, "the drill's alert, linked")
    assert alert["channel"] == sandbox.channels["alerts"]
    assert slack.message(alert["channel"], alert["ts"])["ts"] == alert["ts"]

    async def at(milestone: str) -> None:
        await clock.advance(PACE_S[milestone] * drill.speed - run.elapsed())

    await at("declare")
    await slack.slash_command(riley, room, f"declare P1 {drill.title}")
    incident_id = await eventually(lambda: run.incident_id, 30.0, "the drill's incident")
    channel = await eventually(
        lambda: next((c.id for c in slack.ws.channels.values() if c.name.startswith("inc-")), None)
    )
    store = sandbox.app.services.store  # type: ignore[union-attr]

    async def done(what: str, check: Callable[[], Awaitable[object]]) -> None:
        """Time stands still until the bot has done what was asked (it works after its ack)."""
        for _ in range(600):
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the bot never did it: {what}")

    async def acknowledged() -> object:
        return (await store.get(incident_id)).acknowledged_at

    action = DIAGNOSTIC[drill.name].split()[0]

    async def diagnosed() -> object:
        records = await store.audit_log(100)
        return [r for r in records if r.get("user") == riley and r.get("action") == action]

    async def mitigated() -> object:
        return (await store.get(incident_id)).mitigated_at

    await at("acknowledge")
    await slack.slash_command(casey, channel, "ack")
    await done("acknowledge", acknowledged)
    await at("diagnose")
    await slack.slash_command(riley, channel, DIAGNOSTIC[drill.name])
    await done("a diagnostic", diagnosed)
    await at("mitigate")
    await slack.slash_command(casey, channel, "mitigated")
    await done("mitigated", mitigated)
    await at("resolve")
    await slack.slash_command(casey, channel, "resolve Found and fixed in the drill")

    await eventually(lambda: run.finished.is_set(), 30.0, "the drill to finish")
    report = _report_message(slack.messages(channel), incident_id)
    fields = {
        f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1]
        for block in report["blocks"]
        if block.get("fields")
        for f in block["fields"]
    }
    for milestone, target in drill.target_seconds().items():
        name = _FIELD[milestone]
        # Declaring counts as acknowledging (riley declared; casey's ack changes nothing).
        reached = PACE_S["declare" if milestone == "acknowledge" else milestone] * drill.speed
        assert fields[name].startswith(_duration(reached)), (name, fields[name])
        assert "✅ within" in fields[name], (name, fields[name], target)
    assert "every target met" in report["text"]
    # Block Kit, not Markdown: Slack shows `#`, `| --- |` and `**` as they are.
    shown = flatten(report["blocks"]) + report["text"]
    assert not any(mark in shown for mark in MARKDOWN), shown
    # The whole report as a Markdown file beside it, UTF-8.
    upload = next(f for f in slack.ws.files.values() if f.filename == f"drill-{incident_id}.md")
    text = slack.file_content(upload.id).decode("utf-8")
    assert text.startswith(f"# Drill: {drill.title} — {incident_id}") and "✅" in text

    # The clock stops at Finished.
    finished_after = run.elapsed()
    assert finished_after == PACE_S["resolve"] * drill.speed
    await clock.advance(900)
    assert run.elapsed() == finished_after
    assert "finished after 22 min 00 s" in str(run.status()["text"])


_FIELD = {
    "declare": "Declare an incident",
    "acknowledge": "Acknowledge",
    "diagnose": "First diagnosis (a diagnostic with a result)",
    "mitigate": "Mitigate",
}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _report_message(messages: list[dict[str, Any]], incident_id: str) -> dict[str, Any]:
    for message in messages:
        header = (message.get("blocks") or [{}])[0]
        if header.get("type") == "header" and header["text"]["text"].startswith("Drill:"):
            assert incident_id in header["text"]["text"]
            return message
    raise AssertionError("no drill report in the incident channel")


@pytest.mark.parametrize("name", available())
def test_every_drill_states_its_speed_and_targets_in_real_time(name: str) -> None:
    drill = load_drill(name)
    text = drill.targets_text(drill.speed)
    assert set(drill.target_seconds()) == set(_FIELD)
    for seconds in drill.target_seconds().values():
        assert f"({_duration(seconds / drill.speed).removeprefix('0 min ')} real)" in text or (
            f"({_duration(seconds / drill.speed)} real)" in text
        )


def test_unknown_drill_names_the_drills() -> None:
    with pytest.raises(ConfigurationError, match="the drills are: checkout-rollout, memory-leak"):
        load_drill("fire")


@pytest.mark.slow
@pytest.mark.parametrize("drill_world", ["checkout-rollout"], indirect=True)
async def test_a_rollback_ends_the_scripted_symptoms_of_the_bad_release(
    drill_world: tuple[Sandbox, DrillRun, ManualSandboxClock],
) -> None:
    """Rolled back before the 4th minute: no more error lines from checkout, no pool alarm."""
    from bot.remediation.views import APPROVE
    from bot.sandbox.doubles.kubernetes import deployment_pods

    sandbox, run, clock = drill_world
    slack, cluster = sandbox.slack, sandbox.cluster
    assert cluster is not None
    riley, avery = persona(sandbox, "riley"), persona(sandbox, "avery")
    room = sandbox.channels["war-room"]
    run.begin()
    await slack.slash_command(riley, room, "rollback checkout")
    card = await eventually(
        lambda: next(
            (m for m in slack.messages(room) if "Waiting for approval" in flatten(m)), None
        ),
        10.0,
        "the rollback's approval card",
    )
    await slack.click_button(avery, room, card["ts"], APPROVE)

    def rolled_back() -> bool:
        pods = deployment_pods(cluster, "orion-prod", "checkout")
        images = {c["image"] for p in pods for c in p["spec"]["containers"]}
        return bool(pods) and all(i.endswith(":2.3.0") for i in images)

    for _ in range(200):  # the cluster's controllers work in sandbox time: move it on
        if rolled_back():
            break
        await clock.advance(2)
        await asyncio.sleep(0.05)
    assert rolled_back() and run.elapsed() < 240
    pool = [m for m in slack.messages(sandbox.channels["alerts"]) if "Pool" in flatten(m)]
    await clock.advance(600 - run.elapsed())
    await eventually(lambda: len(run.happened) == len(run.drill.steps), 30.0, "every step")
    text = str(run.status()["text"])
    assert text.count("checkout no longer runs 2.4.0") == 2, text
    assert "errors keep coming" not in text and "pool alarm fired" not in text
    for pod in deployment_pods(cluster, "orion-prod", "checkout"):
        name = pod["metadata"]["name"]
        logs = cluster.container_logs("orion-prod", name, pod["spec"]["containers"][0]["name"])
        assert not [line for _, line in logs.current if "amount_minor" in line]
    assert [m for m in slack.messages(sandbox.channels["alerts"]) if "Pool" in flatten(m)] == pool
