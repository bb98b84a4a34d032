"""Remediation when things go wrong: 409, 403, timeouts (write and verification), and a bot
restart in the middle of an execution — reconciled, verified and reported, never run twice."""

from __future__ import annotations

import asyncio

from bot.remediation import views as approval_blocks
from bot.remediation.store import State
from tests.e2e.harness import eventually
from tests.e2e.remediation_world import (  # noqa: F401  (the fixtures)
    World,
    kube_double_fixture,
    world_fixture,
)

SCALE = r"deployments/task-service/scale$"


async def requested(w: World, text: str) -> str:
    """rita requests in the incident channel cleo commands; returns the channel."""
    _, channel = await w.declare(w.cleo, "P1 tasks failing")
    await w.type(w.rita, text, channel=channel)
    await eventually(lambda: w.cards(channel), what=f"a card; rita was told {w.told(w.rita)}")
    return channel


async def approve_without_waiting(w: World, channel: str) -> None:
    await w.slack.click_button(w.apollo, channel, w.card(channel)["ts"], approval_blocks.APPROVE)


def stall_rollouts(w: World) -> None:
    """New pods never become Ready, so a rollout cannot finish."""
    w.kube.cluster.timing.pod_ready = 3600


def patient(w: World) -> None:
    """Follow rollouts for ten minutes (not 3 s), so a stalled one is still being verified when
    the test stops the bot, however busy the machine is."""
    from tests.e2e.remediation_world import make_policy

    w.app.remediation.guard.authorizer.policy = make_policy(  # type: ignore[union-attr]
        w.rita, w.apollo, w.cleo, w.otto, verify_timeout_s=600
    )


async def expire_dead_locks(w: World) -> None:
    """The stopped process's run lock on R-1 (if it died holding it) expires after a minute of
    wall time in Redis; the test's clock jump of 61 s cannot move Redis's TTLs, so the lock is
    expired here, as a minute would."""
    store = w.app.services.store
    await store.redis.delete(store.keys.lock("remediation:R-1"))


def unstall_rollouts(w: World) -> None:
    cluster = w.kube.cluster
    with cluster.lock:
        cluster.timing.pod_ready = 0.01
        for key in list(cluster.pod_ready_at):
            cluster.pod_ready_at[key] = cluster.now()


async def test_409_on_apply_is_re_previewed_never_retried(world: World) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.fail("patch", SCALE, 409)
    await w.click(w.apollo, channel, approval_blocks.APPROVE)
    record = await w.until_state("R-1", State.STALE)
    assert "409 Conflict" in (record.reason or "")
    assert len(w.writes("patch", SCALE)) == 1  # the one refused, not retried
    await w.card_shows(channel, approval_blocks.REPREVIEW)


async def test_403_on_apply_names_the_missing_rbac_verb_and_resource(world: World) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.fail("patch", SCALE, 403)
    await w.click(w.apollo, channel, approval_blocks.APPROVE)
    record = await w.until_state("R-1", State.FAILED)
    assert "may not `patch` `deployments/scale` in `orion-prod`" in (record.reason or "")
    await w.card_shows(channel, "fireline-remediation Role")


async def test_403_on_the_dry_run_is_told_to_the_requester_before_any_card(world: World) -> None:
    w = world
    w.kube.faults.fail("patch", r"deployments/task-service$", 403)
    await w.type(w.rita, "restart task-service")
    await w.told_about(w.rita, "may not `patch` `deployments` in `orion-prod`")
    assert not w.cards(w.room)


async def test_write_timeout_is_unknown_and_re_check_settles_it(world: World) -> None:
    w = world
    channel = await requested(w, "scale task-service 5")
    w.kube.faults.hang("patch", SCALE)
    await w.click(w.apollo, channel, approval_blocks.APPROVE)
    record = await w.until_state("R-1", State.UNKNOWN)
    assert "may or may not have been applied" in (record.reason or "")
    await w.card_shows(channel, "Outcome unknown")
    await w.card_shows(channel, approval_blocks.RECHECK)
    await w.click(w.rita, channel, approval_blocks.RECHECK)
    record = await w.until_state("R-1", State.FAILED)
    assert "nothing was changed" in (record.reason or "")
    assert w.deployment("task-service")["spec"]["replicas"] == 3


async def test_rollout_not_settled_in_time_is_unknown_then_re_check_reports_success(
    world: World,
) -> None:
    w = world
    channel = await requested(w, "restart task-service")
    stall_rollouts(w)
    await w.click(w.apollo, channel, approval_blocks.APPROVE)
    record = await w.until_state("R-1", State.UNKNOWN)
    assert "not settled after 3 s" in (record.reason or "") and record.applied
    unstall_rollouts(w)
    for _ in range(200):
        await w.click(w.apollo, channel, approval_blocks.RECHECK)
        if (await w.record("R-1")).state == State.SUCCEEDED:
            break
        await asyncio.sleep(0.05)
    await w.card_shows(channel, "*Done*: rolled out: 3/3 replicas ready")
    assert len(w.writes("patch", r"deployments/task-service$")) == 1


async def test_restart_while_verifying_reconciles_without_re_applying(world: World) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    stall_rollouts(w)
    patient(w)
    await approve_without_waiting(w, channel)
    await w.until_state("R-1", State.VERIFYING)
    await w.apps[0].stop()  # the process dies mid-verification (its job lease stays)
    unstall_rollouts(w)
    await w.start()
    await expire_dead_locks(w)
    w.clock.advance(61)  # the dead replica's lease runs out
    await w.settle()
    record = await w.until_state("R-1", State.SUCCEEDED)
    assert record.progress == "rolled out: 6/6 replicas ready"
    assert len(w.writes("patch", SCALE)) == 1
    await w.card_shows(channel, "*Done*: rolled out: 6/6 replicas ready")


async def test_restart_while_applying_checks_the_cluster_and_never_applies_again(
    world: World,
) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    w.kube.faults.hang("patch", SCALE)
    await approve_without_waiting(w, channel)
    await w.until_state("R-1", State.EXECUTING)
    await eventually(lambda: w.writes("patch", SCALE))
    await w.apps[0].stop()  # dies while its write hangs
    await w.start()
    await expire_dead_locks(w)
    w.clock.advance(61)
    await w.settle()
    record = await w.until_state("R-1", State.FAILED)
    assert "nothing was changed" in (record.reason or "")
    assert len(w.writes("patch", SCALE)) == 1  # the hung one; never sent again


async def test_restart_after_the_write_landed_verifies_it(world: World) -> None:
    w = world
    channel = await requested(w, "scale task-service 6")
    stall_rollouts(w)
    await approve_without_waiting(w, channel)
    await w.until_state("R-1", State.VERIFYING)
    await w.apps[0].stop()
    # As if it died right after the write, before recording it: back to `executing`.
    records = w.app.remediation.records if w.app.remediation else None
    assert records is not None
    await records.update("R-1", lambda r: r.model_copy(update={"state": State.EXECUTING}))
    unstall_rollouts(w)
    await w.start()
    await expire_dead_locks(w)
    w.clock.advance(61)
    await w.settle()
    await w.until_state("R-1", State.SUCCEEDED)
    assert len(w.writes("patch", SCALE)) == 1
