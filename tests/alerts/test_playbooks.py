"""Playbooks on alert threads: diagnostics once per group, Run playbook, routing from the policy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot import blockkit as blocks
from bot.alerts import views as alert_blocks
from bot.alerts.playbooks import JOB_KIND
from bot.runtime.scheduler import Job
from tests.harness import Harness, eventually
from tests.playbooks.world import SHIPPED, notification

STARTED = "running its diagnostics"


def flat(message: dict[str, Any]) -> str:
    text: str = message.get("text", "")
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + text


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    }


async def settled(world: Harness, channel: str, parent_ts: str) -> list[dict[str, Any]]:
    """The thread once the group's playbook job has finished (or was never scheduled)."""
    group_id = buttons(world.slack.messages(channel)[0])[alert_blocks.SILENCE_ALERT]
    queue = world.app.scheduler.queue

    async def idle() -> bool:
        return await queue.get(f"{JOB_KIND}:{group_id}") is None and not world.app.scheduler.busy

    for _ in range(500):
        if await idle():
            break
        await asyncio.sleep(0.02)
    assert await idle(), "the playbook job did not finish"
    return world.replies(channel, parent_ts)


@pytest.mark.slow
async def test_first_firing_runs_the_playbook_once_as_the_alert_pipeline(make_world) -> None:
    world = await make_world()
    memory = SHIPPED.by_name["memory-leak"]
    assert (await world.webhook(notification(memory.example)))[0] == 200
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    assert set(buttons(parent)) == {
        alert_blocks.ACK_ALERT,
        alert_blocks.DECLARE_FROM_ALERT,
        alert_blocks.RUN_PLAYBOOK,
        alert_blocks.SILENCE_ALERT,
    }
    thread = await settled(world, world.alerts, parent["ts"])
    # The first line is what the diagnosis of the alert's deployment names.
    assert thread[0]["text"].startswith("🩺 OOMKilled on 3/3 pods"), thread[0]["text"]
    assert (
        "📘 Playbook *Memory leak*" in thread[0]["text"] and "role `responder`" in thread[0]["text"]
    )
    assert any("OOMKilled" in flat(m) for m in thread)
    guidance = thread[-1]
    assert "Next steps — Memory leak" in flat(guidance)
    # Nobody to tell privately: what could not run is said in the thread.
    assert "⚠️ `query`" in flat(guidance) and "Prometheus" in flat(guidance)
    values = [
        json.loads(b["accessory"]["value"])
        for b in guidance["blocks"]
        if b.get("accessory", {}).get("action_id") == blocks.REMEDIATION_REQUEST
    ]
    # Remediation is off in this policy: nothing offered, and the guidance says why.
    assert values == []
    assert "Restart task-service (remediation is off in the policy)" in flat(guidance)
    audit = await world.app.services.store.audit_log()
    assert audit and {a["user"] for a in audit} == {"alertmanager"}

    # Repeats, the HA twin and a new alert joining the group: the playbook does not run again.
    for _ in range(2):
        await world.webhook(notification(memory.example))
    joined = notification(memory.example)
    second = dict(joined["alerts"][0], fingerprint="another-pod")
    second["labels"] = {**second["labels"], "pod": "task-service-7d9f8b6c4-zzz99"}
    joined["alerts"].append(second)
    await world.webhook(joined)
    await world.alerts_done()
    thread = await settled(world, world.alerts, parent["ts"])
    assert sum(STARTED in m.get("text", "") for m in thread) == 1
    assert "1 firing" in thread[-1]["text"] or "2 firing" in flat(
        world.slack.messages(world.alerts)[0]
    )


async def test_the_oom_thread_says_what_each_count_counts(make_world) -> None:
    """The memory-leak alert, sent three times (Alertmanager repeats it): the thread counted
    restarts as "OOMKilled ×15" beside pods as "3 OOMKilled in the last 30 min", so nobody
    could tell how many OOM kills there were. Kubernetes keeps only a container's last
    termination: the thread now says pods and restarts, each by name."""
    world = await make_world()
    for _ in range(3):
        assert (await world.webhook(notification(SHIPPED.by_name["memory-leak"].example)))[0] == 200
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    assert "1 firing · 0 resolved" in flat(parent)  # repeats are not counted as alerts
    thread = await settled(world, world.alerts, parent["ts"])
    assert thread[0]["text"].startswith(
        "🩺 OOMKilled on 3/3 pods, the last 1m ago (15 restarts between them); "
        "memory at 97 % of its 512Mi limit\n"
    ), thread[0]["text"]
    [pods] = [m for m in thread if m["text"].startswith("*Pods of `task-service`")]
    assert "3/3 pods ready · 3 pods OOMKilled in the last 30 min" in flat(pods)
    assert not any("OOMKilled ×" in flat(m) for m in thread)


@pytest.mark.slow
async def test_an_outage_mid_run_then_the_retry_adds_only_what_is_missing(make_world) -> None:
    """Slack refuses posts just after the run has started (500s, past the gateway's own tries):
    the job is tried again later, and the thread ends with every message exactly once."""
    world = await make_world()
    armed: list[Any] = []

    def outage_after_start(call: Any) -> None:
        started = call.ok and STARTED in call.args.get("text", "")
        if call.method == "chat.postMessage" and started and not armed:
            armed.append(call)
            world.slack.fail_next("chat.postMessage", times=3, status=500)

    world.slack.on_call(outage_after_start)
    assert (await world.webhook(notification(SHIPPED.by_name["memory-leak"].example)))[0] == 200
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    thread = await settled(world, world.alerts, parent["ts"])
    refused = [c for c in world.slack.calls("chat.postMessage") if c.status == 500]
    assert armed and len(refused) == 3  # the outage happened, mid-run
    texts = [m.get("text", "") for m in thread]
    assert sum(STARTED in t for t in texts) == 1
    assert sum("Next steps" in t for t in texts) == 1
    assert len(texts) == len(set(texts)), f"a message was posted twice: {texts}"
    assert any("OOMKilled" in flat(m) for m in thread)  # and nothing lost: the pods result


@pytest.mark.slow
async def test_a_run_taken_over_after_it_finished_posts_nothing_again(make_world) -> None:
    """The lease ran out just as the job finished: another replica runs it again, and neither
    the thread nor the audit log (no diagnostic runs again) changes."""
    world = await make_world()
    await world.webhook(notification(SHIPPED.by_name["memory-leak"].example))
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    thread = await settled(world, world.alerts, parent["ts"])
    audit = await world.app.services.store.audit_log()
    group_id = buttons(parent)[alert_blocks.RUN_PLAYBOOK]
    job = Job(id=f"{JOB_KIND}:{group_id}", kind=JOB_KIND, due=0.0, data={"group": group_id})
    await world.app.alert_playbooks._first_run(job, 0.0)
    assert world.replies(world.alerts, parent["ts"]) == thread
    assert await world.app.services.store.audit_log() == audit


@pytest.mark.slow
async def test_two_replicas_and_an_ha_pair_run_it_once(make_world) -> None:
    a = await make_world(instance="replica-a")
    b = await make_world(instance="replica-b")
    example = SHIPPED.by_name["high-latency"].example
    await asyncio.gather(a.webhook(notification(example)), b.webhook(notification(example)))
    await asyncio.gather(a.alerts_done(), b.alerts_done())
    [parent] = a.slack.messages(a.alerts)
    await eventually(
        lambda: any("Next steps" in m.get("text", "") for m in a.replies(a.alerts, parent["ts"])),
        10.0,
    )
    thread = await settled(a, a.alerts, parent["ts"])
    await settled(b, b.alerts, parent["ts"])
    assert sum(STARTED in m.get("text", "") for m in thread) == 1
    assert sum("Next steps" in m.get("text", "") for m in thread) == 1


@pytest.mark.slow
async def test_run_playbook_runs_it_again_as_the_person_who_clicked(make_world) -> None:
    world = await make_world()
    example = SHIPPED.by_name["memory-leak"].example
    await world.webhook(notification(example))
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    before = len(await settled(world, world.alerts, parent["ts"]))
    group_id = buttons(parent)[alert_blocks.RUN_PLAYBOOK]
    await world.slack.click_button(
        world.viewer, world.alerts, parent["ts"], alert_blocks.RUN_PLAYBOOK, group_id
    )
    thread = await eventually(
        lambda: (
            t
            if len(t := world.replies(world.alerts, parent["ts"])) > before
            and "Next steps" in t[-1].get("text", "")
            else None
        ),
        10.0,
    )
    assert f"<@{world.viewer}> ran the *Memory leak* playbook" in thread[before]["text"]
    told = await world.told(world.viewer, "not shown")
    assert "`top`" in told and "needs the role" in told  # the viewer's roles, not the pipeline's
    audit = await world.app.services.store.audit_log()
    assert any(a["user"] == world.viewer and a["action"] == "pods" for a in audit)


async def test_groups_without_a_playbook_have_no_run_button(make_world) -> None:
    world = await make_world()
    body = notification(SHIPPED.by_name["memory-leak"].example)
    for item in (body["commonLabels"], body["alerts"][0]["labels"]):
        item["alertname"] = "Watchdog"
    body["commonAnnotations"] = body["alerts"][0]["annotations"] = {"summary": "all is well"}
    await world.webhook(body)
    await world.alerts_done()
    [parent] = world.slack.messages(world.alerts)
    assert alert_blocks.RUN_PLAYBOOK not in buttons(parent)
    assert await settled(world, world.alerts, parent["ts"]) == []


async def test_routes_from_the_policy_first_match_wins(make_world) -> None:
    world = await make_world()
    latency = SHIPPED.by_name["high-latency"].example
    cases = [
        (notification(latency, "g1", severity="critical", team="payments", namespace="pay-eu"),
         world.critical),
        (notification(latency, "g2", team="payments", namespace="pay-eu"), world.payments),
        (notification(latency, "g3", team="payments", namespace="orion-prod"), world.alerts),
        (notification(latency, "g4"), world.alerts),
    ]  # fmt: skip
    for body, _ in cases:
        assert (await world.webhook(body))[0] == 200
    await world.alerts_done()
    assert len(world.slack.messages(world.critical)) == 1
    assert len(world.slack.messages(world.payments)) == 1
    assert len(world.slack.messages(world.alerts)) == 2
