"""`/incident playbook` typed in the Slack double: the list, a run's thread, the person's policy."""

from __future__ import annotations

import json
from typing import Any

from bot import blockkit as blocks
from bot.blockkit import unescape
from bot.policy.remediation import RemediationPolicy, RemediationRule
from bot.remediation import views as approval_blocks
from tests.harness import Harness, eventually
from tests.playbooks.world import SHIPPED


def flat(message: dict[str, Any]) -> str:
    text: str = message.get("text", "")
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + text


def remediation_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b["accessory"]
        for b in message.get("blocks") or []
        if b.get("accessory", {}).get("action_id") == blocks.REMEDIATION_REQUEST
    ]


async def run_thread(
    world: Harness, user: str, text: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Type a playbook run; wait for its guidance; return the header and its thread."""
    before = len(world.slack.messages(world.room))
    await world.command(user, text)
    header = await eventually(lambda: next(iter(world.slack.messages(world.room)[before:]), None))
    thread = await eventually(
        lambda: (
            t
            if (t := world.replies(world.room, header["ts"]))
            and "Next steps" in t[-1].get("text", "")
            else None
        ),
        10.0,
        "the playbook's guidance",
    )
    return header, thread


async def test_the_list_names_every_playbook_to_the_person_only(make_world) -> None:
    world = await make_world()
    response = await world.command(world.viewer, "playbook")
    shown = unescape(str(response))
    for playbook in SHIPPED:
        assert f"`{playbook.name}` — {playbook.title}" in shown
    assert "/incident playbook <name> [target] [-n namespace]" in shown
    assert world.slack.messages(world.room) == []  # nothing posted in the channel


REMEDIATION = RemediationPolicy(
    enabled=True,
    actions={
        name: RemediationRule(request_roles=("responder",), namespaces=("orion-*",))
        for name in ("restart", "rollback", "scale", "delete-pod")
    },
)


async def test_a_run_posts_diagnostics_then_guidance_with_remediation_buttons(make_world) -> None:
    world = await make_world(remediation=REMEDIATION)
    header, thread = await run_thread(
        world, world.oncall, "playbook memory-leak task-service -n orion-prod"
    )
    assert "Memory leak" in header["text"] and "`task-service`" in flat(header)
    texts = [flat(m) for m in thread]
    # The thread's first line is what the diagnosis names.
    assert thread[0]["text"].startswith("🩺 OOMKilled on 3/3 pods"), thread[0]["text"]
    assert "memory at 97 % of its 512Mi limit" in thread[0]["text"]
    # top, pods and rollout-history ran against the Kubernetes double, in the playbook's order,
    # each led by what to look for.
    assert any("OOMKilled (137)" in t for t in texts[1:]), texts
    assert "How close each pod is to its memory limit" in texts[1]
    guidance = thread[-1]
    assert "Mitigate now" in flat(guidance) and "Fix for good" in flat(guidance)
    assert "kubernetes.io/docs/tasks/configure-pod-container/assign-memory" in flat(guidance)
    # Only what can be done: task-service has one revision, so no rollback; each with why.
    buttons = remediation_buttons(guidance)
    values = [json.loads(b["value"]) for b in buttons]
    # What it was offered on (the revision running, and when) rides along: a click after that
    # changed is answered as stale.
    assert [v.pop("offered")["revision"] for v in values] == [1]
    assert values == [
        {"action": "restart", "params": {"deployment": "task-service", "namespace": "orion-prod"}},
    ]
    assert [b["text"]["text"] for b in buttons] == ["Restart task-service"]
    assert "Offered because replaces its 3 pods one at a time" in flat(guidance)
    assert (
        "Not offered: Roll back task-service (`task-service` has no earlier revision to go back "
        "to)" in flat(guidance)
    )
    # No Prometheus in this policy: the person is told, the thread only counts it.
    told = await world.told(world.oncall, "not shown")
    assert "`query`" in told and "Prometheus" in told
    assert f"details sent to <@{world.oncall}>" in flat(guidance)
    audit = await world.app.services.store.audit_log()
    assert {a["action"] for a in audit} >= {"top", "pods", "rollout-history", "diagnose"}
    assert {a["user"] for a in audit} == {world.oncall}


async def test_nothing_is_offered_while_remediation_is_off_and_the_guidance_says_so(
    make_world,
) -> None:
    world = await make_world()
    _, thread = await run_thread(
        world, world.oncall, "playbook memory-leak task-service -n orion-prod"
    )
    guidance = thread[-1]
    assert remediation_buttons(guidance) == []
    assert "Restart task-service (remediation is off in the policy)" in flat(guidance)


async def test_a_remediation_button_of_the_guidance_asks_for_approval_in_the_thread(
    make_world,
) -> None:
    """The playbook's button goes through the approval flow: a dry-run preview card in the
    run's thread, nothing changed until someone else approves."""
    rule = RemediationRule(request_roles=("responder",), namespaces=("orion-*",))
    world = await make_world(
        remediation=RemediationPolicy(enabled=True, actions={"restart": rule, "rollback": rule})
    )
    header, thread = await run_thread(
        world, world.oncall, "playbook memory-leak task-service -n orion-prod"
    )
    guidance = thread[-1]
    restart = remediation_buttons(guidance)[0]
    await world.slack.click_button(
        world.oncall, world.room, guidance["ts"], blocks.REMEDIATION_REQUEST, restart["value"]
    )
    card = await eventually(
        lambda: next(
            (m for m in world.replies(world.room, header["ts"]) if m["text"].startswith("🛠")),
            None,
        ),
        10.0,
        "the approval card in the playbook's thread",
    )
    shown = flat(card)
    assert "restart task-service" in shown and "Waiting for approval" in shown
    assert f"<@{world.oncall}>" in shown  # the requester
    record = await world.app.remediation.records.get("R-1")
    assert record is not None and record.thread_ts == header["ts"] and record.state == "pending"
    await world.slack.click_button(world.oncall, world.room, card["ts"], approval_blocks.APPROVE)
    told = await world.told(world.oncall, "someone else must approve it")
    assert "R-1" in told


async def test_what_the_person_may_not_run_is_told_to_them_alone(make_world) -> None:
    world = await make_world()
    _, thread = await run_thread(world, world.viewer, "playbook crash-loop task-service")
    texts = " ".join(flat(m) for m in thread)
    assert "Pods of" in texts or "pods ready" in texts  # pods is a viewer action
    assert "needs the role" not in texts  # denials are not posted for everyone
    told = await world.told(world.viewer, "not shown")
    assert "`logs`" in told and "needs the role" in told
    audit = await world.app.services.store.audit_log()
    assert any(a["action"] == "logs" and a["outcome"] == "denied" for a in audit)
    # The diagnosis the run would lead with is not theirs to run: not tried, not audited as
    # refused, and the guidance offers nothing it could not check.
    assert not any(a["action"] == "diagnose" for a in audit)
    assert not thread[0]["text"].startswith("🩺")
    assert remediation_buttons(thread[-1]) == []
    assert "could not be checked without a diagnosis: `diagnose` was denied" in flat(thread[-1])


async def test_in_an_incident_channel_the_buttons_carry_the_incident(make_world) -> None:
    world = await make_world(remediation=REMEDIATION)
    await world.command(world.oncall, "declare P1 tasks failing")
    channel = await eventually(
        lambda: next(
            (c.id for c in world.slack.ws.channels.values() if c.name.startswith("inc-")), None
        )
    )
    await world.command(world.oncall, "playbook high-error-rate checkout", channel=channel)
    guidance = await eventually(
        lambda: next(
            (
                m
                for top in world.slack.messages(channel)
                for m in world.replies(channel, top["ts"])
                if "Next steps" in m.get("text", "")
            ),
            None,
        ),
        10.0,
    )
    # checkout's errors began after its rev 3 rolled out: rolling back is offered first.
    [rollback, restart] = [json.loads(b["value"]) for b in remediation_buttons(guidance)]
    assert rollback["action"] == "rollback" and restart["action"] == "restart"
    assert rollback["incident"] == restart["incident"] == "INC-1"
    assert "Offered because the trouble began after rev 3 rolled out" in flat(guidance)
    timeline = await world.app.services.store.timeline("INC-1")
    assert any(e.kind == "diagnostic" for e in timeline)


async def test_mistakes_get_what_to_type_instead(make_world) -> None:
    world = await make_world()
    assert "Did you mean `memory-leak`" in str(
        await world.command(world.oncall, "playbook memory-leek")
    )
    assert "`high-cpu`" in str(await world.command(world.oncall, "playbook cpu"))
    response = str(await world.command(world.oncall, "playbook high-cpu a b"))
    assert "/incident playbook [name] [target] [-n namespace]" in response
    response = str(await world.command(world.oncall, "playbook high-cpu task-service --cluster x"))
    assert "--cluster" in response
    assert world.slack.messages(world.room) == []


async def test_a_label_the_run_lacks_skips_that_diagnostic_and_says_which(make_world) -> None:
    world = await make_world()
    # No target typed: the steps that need the deployment are skipped; `hpa` needs none.
    _, thread = await run_thread(world, world.oncall, "playbook high-cpu")
    assert len(thread) == 2 and "pinned at max replicas" in thread[0]["text"]
    assert "3 diagnostics not shown" in flat(thread[1])
    told = await world.told(world.oncall, "not shown")
    assert (
        "`top` not run: it needs target, from the label `deployment` or `service` or `app`" in told
    )
    assert remediation_buttons(thread[1]) == []  # nothing to restart without a name
