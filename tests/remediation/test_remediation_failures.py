"""Remediation when things go wrong: 409, 403, timeouts (write and verification), and a bot
restart in the middle of an execution — reconciled, verified and reported, never run twice."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from bot.errors import Unavailable
from bot.gateways.kubernetes import KubeGateway
from bot.remediation import views as approval_blocks
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import Plan, Progress
from bot.remediation.actions.scale import Scale
from bot.remediation.runner import RUN
from bot.remediation.store import State
from tests.harness import Harness, eventually
from tests.remediation.world import (
    approval_card,
    approval_cards,
    card_shows,
    click,
    declare,
    deployment_of,
    record_of,
    until_state,
    writes,
)

SCALE = r"deployments/task-service/scale$"


async def requested(w: Harness, text: str) -> str:
    """rita requests in the incident channel cleo commands; returns the channel."""
    _, channel = await declare(w, w.cleo, "P1 tasks failing")
    await w.command(w.rita, text, channel=channel)
    await eventually(
        lambda: approval_cards(w, channel),
        what=f"a card; rita was told {w.ephemeral_texts(w.rita)}",
    )
    return channel


async def approve_without_waiting(w: Harness, channel: str) -> None:
    await w.slack.click_button(
        w.apollo, channel, approval_card(w, channel)["ts"], approval_blocks.APPROVE
    )


def stall_rollouts(w: Harness) -> None:
    """New pods never become Ready, so a rollout cannot finish."""
    w.kube.cluster.timing.pod_ready = 3600


def patient(w: Harness) -> None:
    """Follow rollouts for ten minutes (not 3 s), so a stalled one is still being verified when
    the test stops the bot, however busy the machine is."""
    from tests.remediation.world import make_policy

    w.app.remediation.guard.authorizer.policy = make_policy(
        w.rita, w.apollo, w.cleo, w.otto, verify_timeout_s=600
    )


async def expire_dead_locks(w: Harness) -> None:
    """The stopped process's run lock on R-1 (if it died holding it) expires after a minute of
    wall time in Redis; the test's clock jump of 61 s cannot move Redis's TTLs, so the lock is
    expired here, as a minute would."""
    store = w.app.services.store
    await store.redis.delete(store.keys.lock("remediation:R-1"))


async def die(w: Harness) -> None:
    """Stop the first bot as a crash would (nothing in flight is given time to finish) and wait
    until no run of its is left: a test that then rewrites what it left behind (as a crash
    would have left it) must not race a run still going."""
    dead = w.apps[0]
    await w.stop(dead, grace_s=0)
    await eventually(lambda: not dead.scheduler.busy, what="the stopped bot's runs to end")


def unstall_rollouts(w: Harness) -> None:
    cluster = w.kube.cluster
    with cluster.lock:
        cluster.timing.pod_ready = 0.01
        for key in list(cluster.pod_ready_at):
            cluster.pod_ready_at[key] = cluster.now()


async def test_409_on_apply_is_re_previewed_never_retried(world: Harness) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.fail("patch", SCALE, 409)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.STALE)
    assert "409 Conflict" in (record.reason or "")
    assert len(writes(w, "patch", SCALE)) == 1  # the one refused, not retried
    await card_shows(w, channel, approval_blocks.REPREVIEW)


async def test_403_on_apply_names_the_missing_rbac_verb_and_resource(world: Harness) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.fail("patch", SCALE, 403)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.FAILED)
    assert "may not `patch` `deployments/scale` in `orion-prod`" in (record.reason or "")
    await card_shows(w, channel, "fireline-remediation Role")


async def test_403_on_the_dry_run_is_told_to_the_requester_before_any_card(world: Harness) -> None:
    w = world
    w.kube.faults.fail("patch", r"deployments/task-service$", 403)
    await w.command(w.rita, "restart task-service")
    await w.told(w.rita, "may not `patch` `deployments` in `orion-prod`")
    assert not approval_cards(w, w.room)


@pytest.mark.slow
async def test_write_timeout_is_unknown_and_re_check_settles_it(world: Harness) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.hang("patch", SCALE)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.UNKNOWN)
    assert "may or may not have been applied" in (record.reason or "")
    await card_shows(w, channel, "Outcome unknown")
    await card_shows(w, channel, approval_blocks.RECHECK)
    await click(w, w.rita, channel, approval_blocks.RECHECK)
    record = await until_state(w, "R-1", State.FAILED)
    assert "nothing was changed" in (record.reason or "")
    assert deployment_of(w, "task-service")["spec"]["replicas"] == 3


@pytest.mark.slow
async def test_rollout_not_settled_in_time_is_unknown_then_re_check_reports_success(
    world: Harness,
) -> None:
    w = world
    channel = await requested(w, "restart task-service")
    stall_rollouts(w)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    record = await until_state(w, "R-1", State.UNKNOWN)
    assert "not settled after 3 s" in (record.reason or "") and record.applied
    unstall_rollouts(w)
    for _ in range(200):
        await click(w, w.apollo, channel, approval_blocks.RECHECK)
        if (await record_of(w, "R-1")).state == State.SUCCEEDED:
            break
        await asyncio.sleep(0.05)
    await card_shows(w, channel, "*Done*: rolled out: 3/3 replicas ready")
    assert len(writes(w, "patch", r"deployments/task-service$")) == 1


async def test_restart_while_verifying_reconciles_without_re_applying(world: Harness) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    stall_rollouts(w)
    patient(w)
    await approve_without_waiting(w, channel)
    await until_state(w, "R-1", State.VERIFYING)
    await die(w)  # mid-verification (its job lease stays)
    unstall_rollouts(w)
    await w.start()
    await expire_dead_locks(w)
    w.manual_clock.advance(61)  # the dead replica's lease runs out
    await w.settle()
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.progress == "rolled out: 6/6 replicas ready"
    assert len(writes(w, "patch", SCALE)) == 1
    await card_shows(w, channel, "*Done*: rolled out: 6/6 replicas ready")


async def test_restart_while_applying_checks_the_cluster_and_never_applies_again(
    world: Harness,
) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    w.kube.faults.hang("patch", SCALE)
    await approve_without_waiting(w, channel)
    await until_state(w, "R-1", State.EXECUTING)
    await eventually(lambda: writes(w, "patch", SCALE))
    await die(w)  # while its write hangs
    await w.start()
    await expire_dead_locks(w)
    w.manual_clock.advance(61)
    await w.settle()
    record = await until_state(w, "R-1", State.FAILED)
    assert "nothing was changed" in (record.reason or "")
    assert len(writes(w, "patch", SCALE)) == 1  # the hung one; never sent again


async def test_restart_after_the_write_landed_verifies_it(world: Harness) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    stall_rollouts(w)
    await approve_without_waiting(w, channel)
    await until_state(w, "R-1", State.VERIFYING)
    await die(w)
    # As if it died right after the write, before recording it: back to `executing`.
    records = w.app.remediation.records if w.app.remediation else None
    assert records is not None
    await records.update("R-1", lambda r: r.model_copy(update={"state": State.EXECUTING}))
    unstall_rollouts(w)
    await w.start()
    await expire_dead_locks(w)
    w.manual_clock.advance(61)
    await w.settle()
    await until_state(w, "R-1", State.SUCCEEDED)
    assert len(writes(w, "patch", SCALE)) == 1


class SwallowingScale(Scale):
    """`scale` whose first look at the rollout waits to be cancelled, then swallows the
    cancellation and answers, as redis-py 8.1 can do with one that arrives mid-call."""

    def __init__(self) -> None:
        self.looking = asyncio.Event()

    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        if not self.looking.is_set():
            self.looking.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return Progress(status="progressing", text="rolled out: 3/6 replicas ready")


async def test_stopping_ends_a_verification_whose_cancellation_was_swallowed(
    world: Harness,
) -> None:
    w = world
    swallowing = SwallowingScale()
    await w.stop()  # the fixture's app has only the default remediations
    others = tuple(r for r in default_remediations() if r.name != swallowing.name)
    app = await w.start(remediations=(swallowing, *others))
    channel = await requested(w, "scale task-service 6")
    patient(w)
    await approve_without_waiting(w, channel)
    await until_state(w, "R-1", State.VERIFYING)
    await asyncio.wait_for(swallowing.looking.wait(), 10.0)
    await w.stop(app)
    await eventually(lambda: not app.scheduler.busy, what="the run to end after stop()")
    # Not marked done: its lease runs out and another replica verifies it.
    assert await app.scheduler.queue.get(f"remediation:R-1:{RUN}") is not None
    assert (await record_of(w, "R-1")).state == State.VERIFYING


def losing_the_answer(w: Harness, monkeypatch: pytest.MonkeyPatch, to: State) -> None:
    """The first change of R-1 to `to` lands in Redis and its answer is lost, as a failover
    can do: the caller gets `Unavailable` for a write that was made."""
    assert w.app.remediation is not None
    records = w.app.remediation.records
    update, lost = records.update, asyncio.Event()

    async def losing(remediation_id: str, change: Any, also: Any = None) -> Any:
        record, won = await update(remediation_id, change, also)
        if won and record.state == to and not lost.is_set():
            lost.set()
            raise Unavailable("Redis did not answer (ConnectionError)")
        return record, won

    monkeypatch.setattr(records, "update", losing)


async def test_an_approval_whose_answer_was_lost_is_applied_once_and_the_clicker_told_so(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    card = approval_card(w, channel)
    losing_the_answer(w, monkeypatch, State.APPROVED)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    told = w.ephemeral_texts(w.apollo)
    assert any("could not be confirmed" in t for t in told), told
    assert not any("did not happen" in t for t in told), told
    # Recorded as approved, so it runs: its run job was written with the approval.
    await w.settle()
    record = await until_state(w, "R-1", State.SUCCEEDED)
    assert record.approver == w.apollo
    assert len(writes(w, "patch", SCALE)) == 1
    # Clicked again on the card as their Slack still shows it: told where it stands.
    await w.slack.click_button(w.apollo, channel, card["ts"], approval_blocks.APPROVE, message=card)
    await w.settle()
    assert w.ephemeral_texts(w.apollo)[-1].strip() == "R-1 is already done; this click did nothing."


async def test_a_run_whose_claim_to_execute_lost_its_answer_applies_it_on_the_next_run(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run sent no write: it puts the request back to `approved` (a run finding it
    `executing` could only report the approved change as not applied), and the retry applies."""
    w = world
    channel = await requested(w, "scale task-service 6")
    losing_the_answer(w, monkeypatch, State.EXECUTING)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.APPROVED)
    assert not writes(w, "patch", SCALE)
    w.manual_clock.advance(3)  # the job's backoff after its first run
    await w.settle()
    await until_state(w, "R-1", State.SUCCEEDED)
    assert len(writes(w, "patch", SCALE)) == 1


async def test_a_card_edit_that_cannot_read_redis_does_not_stop_the_write(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between `executing` and the write the card is edited ("applying"); Redis failing for
    that edit's read is the card's problem, not the change's."""
    w = world
    channel = await requested(w, "scale task-service 6")
    assert w.app.remediation is not None
    records = w.app.remediation.records
    get, failed = records.get, asyncio.Event()

    async def failing(remediation_id: str) -> Any:
        record = await get(remediation_id)
        if record is not None and record.state == State.EXECUTING and not failed.is_set():
            failed.set()
            raise Unavailable("Redis did not answer (ConnectionError)")
        return record

    monkeypatch.setattr(records, "get", failing)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    assert failed.is_set()
    assert len(writes(w, "patch", SCALE)) == 1
