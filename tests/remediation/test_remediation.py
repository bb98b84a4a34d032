"""Guarded remediation end to end: typed or clicked in the Slack double (signed deliveries), the
bot on real Redis, the change previewed (dryRun=All) and applied on the Kubernetes double."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.interaction import Reply
from bot.remediation import views as approval_blocks
from bot.remediation.store import State
from tests.harness import Harness, eventually
from tests.remediation.world import (
    NS,
    approval_card,
    approval_cards,
    approval_text,
    button_request,
    card_shows,
    click,
    declare,
    deployment_of,
    record_of,
    until_state,
    writes,
)


async def incident_with_request(w: Harness, text: str, severity: str = "P1") -> tuple[str, str]:
    """cleo declares (so she commands it); rita requests `text` in the incident channel."""
    incident_id, channel = await declare(w, w.cleo, f"{severity} tasks failing")
    await w.command(w.rita, text, channel=channel)
    await eventually(
        lambda: approval_cards(w, channel),
        what=f"a card; rita was told {w.ephemeral_texts(w.rita)}",
    )
    return incident_id, channel


@pytest.mark.slow
async def test_restart_previewed_approved_by_an_approver_applied_once_and_verified(
    world: Harness,
) -> None:
    w = world
    incident_id, channel = await incident_with_request(w, "restart task-service")
    card = approval_text(w, channel)
    assert "R-1" in card and "restart task-service" in card and f"<@{w.rita}>" in card
    assert "restartedAt: never →" in card and "3 pods running" in card
    # The new stamp reads as a time in each reader's zone, not as RFC 3339.
    assert "restartedAt: never → *<!date^" in card, card
    assert not re.search(r"→ \*?\d{4}-\d\d-\d\dT", card), card
    assert "Now: 3/3 ready · task-service:1.8.2" in card and "*Waiting for approval*" in card
    assert not writes(w), "the preview must not change anything"
    assert w.kube.requests.find("patch", "deployments/task-service")[0].query == {"dryRun": "All"}

    # cleo commands the incident but holds no approving role: commanding is not approving.
    await click(w, w.cleo, channel, approval_blocks.APPROVE)
    await w.told(w.cleo, "Being the incident's commander is not enough")
    assert (await record_of(w, "R-1")).state == State.PENDING
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.approver == w.apollo and record.applied
    card = approval_text(w, channel)
    assert "*Done*: rolled out: 3/3 replicas ready" in card
    assert f"Approved by <@{w.apollo}>" in card
    assert approval_blocks.APPROVE not in str(
        approval_card(w, channel)["blocks"]
    )  # no buttons once done
    assert len(writes(w, "patch", "deployments/task-service")) == 1
    template = deployment_of(w, "task-service")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]

    timeline = [e.text for e in await w.app.services.store.timeline(incident_id)]
    events = [t for t in timeline if t.startswith("🛠 R-1")]
    assert [e.split(": ", 1)[1].split(" ")[0].rstrip(":") for e in events] == [
        "requested", "approved", "succeeded",
    ]  # fmt: skip
    audit = await w.app.services.store.audit_log()
    done = next(a for a in audit if a.get("outcome") == "succeeded")
    assert done["requester"] == w.rita and done["approver"] == w.apollo
    assert done["before"].startswith("pods: 3 pods running") and "restartedAt" in done["after"]


async def test_scale_shows_replicas_before_and_after_and_reports_ready_replicas(
    world: Harness,
) -> None:
    w = world
    _, channel = await incident_with_request(w, "scale task-service 6 -n orion-prod")
    await card_shows(w, channel, "replicas: 3 → *6*")
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    await card_shows(w, channel, "*Done*: rolled out: 6/6 replicas ready")
    await card_shows(w, channel, "After: 6/6 ready")
    # Once applied, the preview's state is no longer "now": the card said "Now: 3/3 ready"
    # beside "After: 6/6 ready" (a newcomer's walk of the sandbox).
    await card_shows(w, channel, "Before: 3/3 ready")
    assert "Now:" not in approval_text(w, channel)
    assert deployment_of(w, "task-service")["spec"]["replicas"] == 6


async def test_rollback_requested_by_a_button_goes_into_its_thread(world: Harness) -> None:
    w = world
    value = {"action": "rollback", "params": {"deployment": "checkout", "namespace": NS}}
    ts = await button_request(w, w.rita, w.room, value)
    card = await eventually(
        lambda: approval_cards(w, w.room), what=f"card; told {w.ephemeral_texts(w.rita)}"
    )
    assert card[0].get("thread_ts") == ts
    assert "image (checkout): checkout:2.4.0 → *checkout:2.3.0*" in approval_text(w, w.room)
    # The card is out of sight in that thread: the clicker is told where, and what was asked
    # reads as it would be typed, the policy's check said to come first.
    await w.told(w.rita, "R-1 is waiting for approval: its card is in the thread of the message")
    await w.told(w.rita, f"Checking the policy, then previewing `rollback checkout -n {NS}`")
    await click(w, w.apollo, w.room, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    image = deployment_of(w, "checkout")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith("checkout:2.3.0")


async def test_delete_pod_is_verified_by_its_ready_replacement(world: Harness) -> None:
    w = world
    pod = next(p["metadata"]["name"] for p in w.kube.cluster.list("v1", "Pod", NS)
               if p["metadata"]["name"].startswith("orders-api-"))  # fmt: skip
    _, channel = await incident_with_request(w, f"delete-pod {pod}")
    assert f"pod {pod}" in approval_text(w, channel) or pod in approval_text(w, channel)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.progress and record.progress.startswith("replacement pod orders-api-")
    assert w.kube.cluster.get("v1", "Pod", NS, pod) is None


async def test_requester_cannot_approve_and_nobody_else_but_approvers_can(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "restart task-service")
    await click(w, w.rita, channel, approval_blocks.APPROVE)
    refused = await w.told(w.rita, "You requested R-1, so someone else must approve it")
    assert "someone with the role commander or admin" in refused  # who can, and
    assert f"Held by <@{w.apollo}>" in refused  # by name: the person to ask
    await click(w, w.otto, channel, approval_blocks.APPROVE)
    told = await w.told(w.otto, "can approve or deny R-1")
    assert "Only someone with the role commander or admin" in told and "Nothing was changed" in told
    assert f"Held by <@{w.apollo}>" in told
    await click(w, w.otto, channel, approval_blocks.CANCEL)
    await w.told(w.otto, f"Only <@{w.rita}>, who requested R-1, can cancel it")
    assert (await record_of(w, "R-1")).state == State.PENDING and not writes(w)


async def test_self_approval_where_the_policy_allows_it(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "restart task-service -n orion-staging")
    await click(w, w.rita, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.approver == w.rita


async def test_denials_before_any_preview_say_why(world: Harness) -> None:
    w = world
    await w.command(w.otto, "restart task-service")
    await w.told(w.otto, "Requesting `restart` needs the role responder, commander or admin")
    await w.command(w.rita, "restart task-service -n orion-frozen")
    await w.told(w.rita, "`orion-frozen` is frozen")
    await w.command(w.rita, "scale task-service 8")
    await w.told(w.rita, "at most 4 at a time. Try `7` first")
    assert not approval_cards(w, w.room) and not w.kube.requests.find("patch")


async def test_double_click_and_two_replicas_execute_once(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "scale task-service 5")
    second = (await w.replica()).app  # a second replica on the same Redis, Slack and cluster
    first = w.apps[0]
    card = approval_card(w, channel)
    clicks = [w.slack.click_button(w.apollo, channel, card["ts"], approval_blocks.APPROVE)
              for _ in range(3)]  # fmt: skip
    assert first.remediation is not None and second.remediation is not None
    direct = [
        first.remediation.approve("R-1", w.apollo),
        second.remediation.approve("R-1", w.apollo),
    ]
    results = await asyncio.gather(*clicks, *direct, return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException) and not str(r)]
    for result in results:  # what a handler does after the ack of a direct call that won
        if isinstance(result, Reply) and result.later is not None:
            await result.later()
    await until_state(w, "R-1", State.SUCCEEDED)
    for app in w.apps:
        assert await app.drain(10.0)
    assert len(writes(w, "patch", "deployments/task-service/scale")) == 1
    record = await record_of(w, "R-1")
    assert record.approver == w.apollo
    audit = await first.services.store.audit_log()
    assert [a["outcome"] for a in audit if a.get("remediation") == "R-1"].count("approved") == 1


async def test_expiry_closes_the_request_and_a_late_approval_changes_nothing(
    world: Harness,
) -> None:
    w = world
    _, channel = await incident_with_request(w, "restart task-service")
    pending_copy = approval_card(w, channel)  # what a slow client still shows
    w.manual_clock.advance(15 * 60 + 1)
    await w.settle()
    await until_state(w, "R-1", State.EXPIRED)
    await card_shows(w, channel, "*Expired* without approval. Nothing was changed.")
    await w.slack.click_button(w.cleo, channel, pending_copy["ts"], approval_blocks.APPROVE,
                               message=pending_copy)  # fmt: skip
    await w.settle()
    await w.told(
        w.cleo, "R-1 is already over: it expired without approval; this click did nothing."
    )
    assert not writes(w)


async def test_requester_cancels(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "restart task-service")
    await click(w, w.rita, channel, approval_blocks.CANCEL)
    await until_state(w, "R-1", State.CANCELLED)
    await card_shows(w, channel, f"*Cancelled* by <@{w.rita}>")
    # The target is free again: a new request is accepted.
    await w.command(w.rita, "restart task-service", channel=channel)
    await eventually(lambda: len(approval_cards(w, channel)) == 2)


async def test_deny_takes_a_reason_in_a_form(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "restart task-service")
    await click(w, w.apollo, channel, approval_blocks.DENY)
    view = (await eventually(lambda: w.slack.open_views(w.apollo)))[-1]
    result = await w.slack.submit_view(w.apollo, view["id"], {"reason": {"value": ""}})
    assert result.response_action == "errors"
    await w.slack.submit_view(w.apollo, view["id"], {"reason": {"value": "memory leak, not load"}})
    await w.settle()
    record = await until_state(w, "R-1", State.DENIED)
    assert record.decided_by == w.apollo
    await card_shows(w, channel, f"*Denied* by <@{w.apollo}>: memory leak, not load")
    assert not writes(w)


async def test_target_changed_since_preview_applies_nothing_and_offers_a_fresh_preview(
    world: Harness,
) -> None:
    w = world
    _, channel = await incident_with_request(w, "scale task-service 5")
    with w.kube.cluster.lock:
        deployment = deployment_of(w, "task-service")
        deployment["metadata"]["labels"]["touched"] = "by-hand"
        w.kube.cluster.update(deployment)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.STALE)
    assert "resourceVersion" in (record.reason or "")
    assert not writes(w) and deployment_of(w, "task-service")["spec"]["replicas"] == 3
    await card_shows(w, channel, "*Not applied*")
    await click(w, w.apollo, channel, approval_blocks.REPREVIEW)
    await eventually(
        lambda: len(approval_cards(w, channel)) == 2, what=f"told {w.ephemeral_texts(w.apollo)}"
    )
    fresh = await record_of(w, "R-2")
    assert fresh.state == State.PENDING and fresh.requester == w.rita
