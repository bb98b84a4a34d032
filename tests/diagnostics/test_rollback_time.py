"""After a rollback, `diagnose` and `rollout-history` date the current revision by the rollback,
not by its ReplicaSet's creation days before (bot/diagnostics/revisions.py).

`checkout` in the double's `orion-prod`: revision 2 (2.3.0) rolled out 5 days ago, revision 3
(2.4.0) 22 minutes ago. Ten minutes later Fireline's own `rollback` takes it back to 2.3.0:
the deployment controller reuses revision 2's ReplicaSet, made 5 days ago, as revision 4.
Everything runs on the double's manual clock, which the bot reads too; nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.actions.base import Context
from bot.diagnostics.actions import default_actions
from bot.diagnostics.revisions import Revision, revision_label, revisions, rolled_out_ago
from bot.gateways.kubernetes import KubeGateway
from bot.policy.remediation import RemediationRule
from bot.remediation.actions.base import Preview
from bot.remediation.actions.rollback import Rollback
from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    ManualClock,
    Timing,
    add_logs,
    deployment_pods,
    orion_prod,
)
from tests.diagnostics.conftest import COMMANDER, make_policy
from tests.kube import kube_gateway
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator

NOW = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
ACTIONS = {a.name: a for a in default_actions()}
RULE = RemediationRule(namespaces=("orion-*",), min_replicas=1, max_replicas=8, max_step=4)


class BotClock:
    """The bot reads the double's manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def timing() -> Timing:
    """A rollout step every 5 s and pods ready 10 s after they start: rolling 3 pods back
    takes about half a minute of the cluster's time, as a small deployment's rollout does."""
    return Timing(rollout_step=5, pod_ready=10)


@pytest.fixture
def double(
    clock: ManualClock, timing: Timing, validator: SchemaValidator
) -> Iterator[KubernetesDouble]:
    cluster = Cluster(clock, timing=timing)
    orion_prod(cluster)
    with KubernetesDouble(cluster, on_serve=validator) as server:
        yield server


@pytest.fixture
async def gateway(double: KubernetesDouble) -> AsyncIterator[KubeGateway]:
    async with kube_gateway(double) as gateway:
        yield gateway


async def run(gateway: KubeGateway, clock: ManualClock, name: str, text: str, **kw: Any) -> Any:
    action = ACTIONS[name]
    ctx = Context(
        COMMANDER, make_policy(), BotClock(clock), lambda _: gateway, None, None, None,  # type: ignore[arg-type]
        permitted=frozenset(ACTIONS), part_timeout_s=3.0, **kw,
    )  # fmt: skip
    params = action.parse(text)
    findings = await action.execute(params, ctx, action.scopes(params, ctx))
    return action.render(params, findings, ctx)


async def roll_back(gateway: KubeGateway, clock: ManualClock, *, wait: bool = True) -> datetime:
    """`rollback checkout` as Fireline runs it (preview, apply, then checks, the cluster's clock
    moving 5 s between them until the rollout is done unless `wait` is False). Returns when
    it was applied."""
    rollback = Rollback()
    request = Preview(rollback.parse("checkout"), gateway, "test", ORION_PROD, RULE, clock.now())
    plan = await rollback.preview(request)
    applied = clock.now()
    await rollback.apply(gateway, plan)
    for _ in range(60):
        progress = await rollback.check(gateway, plan)
        assert progress.status != "failed", progress.text
        if progress.status == "done" or not wait:
            return applied
        clock.advance(5)
    raise AssertionError("the rollback never finished")


def advance_to(clock: ManualClock, when: datetime) -> None:
    clock.advance((when - clock.now()).total_seconds())


def rows(result: Any, title: str) -> list[str]:
    """The lines of the section whose title starts with `title`, header first."""
    text: str = next(s.text for s in result.sections if s.title.startswith(title))
    return text.splitlines()


async def test_after_a_rollback_diagnose_says_it_rolled_out_minutes_ago(
    gateway: KubeGateway, clock: ManualClock
) -> None:
    clock.advance(10 * 60)
    rolled_back = await roll_back(gateway, clock)
    advance_to(clock, rolled_back + timedelta(minutes=2))

    result = await run(gateway, clock, "diagnose", "checkout")

    # The first line says all the state line would (pods ready, the rollout): it stands alone.
    [first] = result.headline
    assert first.startswith("Nothing wrong found") and first.endswith("; rev 4 rolled out 2m ago.")
    assert [line.split()[:5] for line in rows(result, "Recent revisions")[1:]] == [
        ["4", "(was", "2)", "registry.orion.example.com/checkout:2.3.0", "2m"],
        ["3", "registry.orion.example.com/checkout:2.4.0", "34m", "ago", "deploy"],
        ["1", "registry.orion.example.com/checkout:2.2.1", "12d", "ago", "deploy"],
    ]


async def test_rollout_history_flags_the_rollback_when_the_incident_followed_it(
    gateway: KubeGateway, clock: ManualClock
) -> None:
    """An incident declared a minute after the rollback: the rollback is the change closest
    before it (not revision 3, 33 minutes before it), and its row says it is 3 minutes old."""
    clock.advance(10 * 60)
    rolled_back = await roll_back(gateway, clock)
    advance_to(clock, rolled_back + timedelta(minutes=3))

    result = await run(
        gateway, clock, "rollout-history", "checkout",
        incident_started=rolled_back + timedelta(minutes=1),
    )  # fmt: skip

    assert result.headline == ["⚠️ rev 4 rolled out 1m before the incident"]
    assert [line.split()[:7] for line in rows(result, "")] == [
        ["REV", "IMAGES", "ROLLED", "OUT", "PODS", "CHANGE-CAUSE"],
        ["→", "4", "(was", "2)", "registry.orion.example.com/checkout:2.3.0", "3m", "ago"],
        ["3", "registry.orion.example.com/checkout:2.4.0", "35m", "ago", "0", "deploy", "2.4.0:"],
        ["1", "registry.orion.example.com/checkout:2.2.1", "12d", "ago", "0", "deploy", "2.2.1"],
    ]


async def test_errors_that_began_with_the_rollback_are_blamed_on_it(
    double: KubernetesDouble, gateway: KubeGateway, clock: ManualClock
) -> None:
    """2.4.0 migrated the schema; 2.3.0, rolled back to, no longer finds its column. The rule
    that names a rollout as the cause counts from the rollback, 2 minutes ago."""
    clock.advance(10 * 60)
    rolled_back = await roll_back(gateway, clock)
    advance_to(clock, rolled_back + timedelta(minutes=2))
    broken = (
        'ERROR "POST /api/checkout" 500 8ms error="db: column \\"amount_minor\\" does not exist"'
    )
    for pod in deployment_pods(double.cluster, ORION_PROD, "checkout"):
        add_logs(double.cluster, ORION_PROD, pod["metadata"]["name"], [broken] * 18, interval=5)

    result = await run(gateway, clock, "diagnose", "checkout")

    assert result.headline[0] == (
        'Errors since rev 4 rolled out 2m ago: `ERROR "POST /api/checkout" 500 8ms error="db: '
        'column \\"amount_minor\\" does not exist"` ×54 (nothing read from before it)'
    )


@pytest.mark.parametrize("timing", [Timing(rollout_step=60, pod_ready=60)])
async def test_logs_are_split_at_the_rollback_while_it_rolls_out(
    double: KubernetesDouble, gateway: KubeGateway, clock: ManualClock
) -> None:
    """Two minutes into a slower rollback, 2.4.0's pods still answer (and fail) beside 2.3.0's
    new ones: their errors are counted before and after the rollback, not all "after" a
    rollout 5 days ago, and the trouble is said to have begun before it."""
    clock.advance(10 * 60)
    rolled_back = await roll_back(gateway, clock, wait=False)
    advance_to(clock, rolled_back + timedelta(minutes=2))
    new = {p["metadata"]["name"] for p in deployment_pods(double.cluster, ORION_PROD, "checkout")}
    old = [
        p["metadata"]["name"]
        for p in double.cluster.list("v1", "Pod", ORION_PROD)
        if p["metadata"]["labels"].get("app") == "checkout" and p["metadata"]["name"] not in new
    ]
    assert len(old) == 3 and len(new) == 1  # one 2.3.0 pod so far
    failing = (
        'ERROR "POST /api/checkout" 500 1203ms error="payment provider: unexpected field '
        '\\"amount_minor\\" in v2 response"'
    )
    for name in old:  # still serving until replaced: 6 more failures each since the rollback
        add_logs(double.cluster, ORION_PROD, name, [failing] * 6, interval=10)

    result = await run(gateway, clock, "diagnose", "checkout")

    # The rollback is under way: the errors read are the old pods', and the line says so.
    assert result.headline[0].endswith(
        "×138 in 3 pods; began 16m ago, before rev 4 began rolling out 2m ago (not the rollout; "
        "still rolling out: 2 of 3 pods run an earlier revision)"
    )
    patterns = next(s for s in result.sections if s.title.startswith("Log patterns"))
    assert "all logged after" not in patterns.title
    header, top = patterns.text.splitlines()[:2]
    assert header.split()[4:6] == ["<REV", "4"] and header.split()[6:8] == ["≥REV", "4"]
    assert top.split()[:8] == ["×138", "ERROR", "16m", "ago", "0s", "ago", "120", "18"]


# --- what each trace says, one at a time (bot/diagnostics/revisions.py) ---------------------

UID = "deployment-uid"


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def replica_set(name: str, revision: int, made: str, history: str | None = None) -> dict[str, Any]:
    notes = {"deployment.kubernetes.io/revision": str(revision)}
    if history:
        notes["deployment.kubernetes.io/revision-history"] = history
    return {
        "metadata": {"name": name, "uid": f"{name}-uid", "creationTimestamp": made,
                     "annotations": notes, "ownerReferences": [{"uid": UID}]},
        "spec": {"template": {"spec": {"containers": [{"image": f"app:{name}"}]}}},
    }  # fmt: skip


def pod(of: str, made: str, *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"creationTimestamp": made, "ownerReferences": [{"uid": f"{of}-uid"}]}
    if deleting:
        meta["deletionTimestamp"] = made
    return {"metadata": meta}


def deployment(progressing: str, updated: str) -> dict[str, Any]:
    """A deployment whose Progressing condition names ReplicaSet `progressing`."""
    condition = {
        "type": "Progressing",
        "status": "True",
        "reason": "NewReplicaSetAvailable",
        "lastUpdateTime": updated,
        "message": f'ReplicaSet "{progressing}" has successfully progressed.',
    }
    return {"metadata": {"uid": UID}, "status": {"conditions": [condition]}}


def when(revs: list[Revision]) -> dict[int, str]:
    return {r.number: rolled_out_ago(r, NOW) for r in revs}


def test_a_replicaset_made_for_its_revision_rolled_out_when_it_was_made() -> None:
    sets = [replica_set("a", 1, at(7200)), replica_set("b", 2, at(22))]
    # A later scale's pods, and a condition updated since, change nothing.
    revs = revisions(deployment("b", at(1)), sets, [pod("b", at(3))])
    assert when(revs) == {2: "22m ago", 1: "5d ago"}


def test_a_rollback_is_dated_by_the_earliest_trace_after_it() -> None:
    sets = [replica_set("a", 3, at(7200), "1"), replica_set("b", 2, at(40))]
    # The rollback's first pod (10m ago) is earlier than the condition (it finished 9m ago);
    # a pod replaced since (2m) and the condition say later times.
    revs = revisions(deployment("a", at(9)), sets, [pod("a", at(10)), pod("a", at(2))])
    assert when(revs) == {3: "10m ago", 2: "40m ago"}
    assert revision_label(revs[0]) == "3 (was 1)"
    # Without the pods (not read, or not allowed), the condition: when the rollback finished.
    assert when(revisions(deployment("a", at(9)), sets)) == {3: "9m ago", 2: "40m ago"}


def test_what_belongs_to_the_replicasets_earlier_life_is_not_the_rollback() -> None:
    """Undone in the middle of revision 2's rollout: revision 1's pods from 5 days ago still
    ran, and the condition last named it before revision 2 was made. Neither is the rollback;
    the pod made after revision 2 is."""
    sets = [replica_set("a", 3, at(7200), "1"), replica_set("b", 2, at(6))]
    pods = [pod("a", at(7200)), pod("a", at(7200)), pod("a", at(4)), pod("a", at(5), deleting=True)]
    assert when(revisions(deployment("a", at(7100)), sets, pods)) == {3: "4m ago", 2: "6m ago"}


def test_without_a_trace_a_rollbacks_time_is_not_guessed() -> None:
    """Nothing after the rollback names it (no pods read, the condition still about another
    ReplicaSet), or it is an earlier revision a rollback had made current: "?", and the rules
    then make nothing of the rollout's time."""
    sets = [replica_set("a", 3, at(7200), "1"), replica_set("b", 2, at(40))]
    assert when(revisions(deployment("b", at(30)), sets)) == {3: "?", 2: "40m ago"}
    later = [*sets, replica_set("c", 4, at(5))]
    assert when(revisions(deployment("c", at(4)), later)) == {4: "5m ago", 3: "?", 2: "40m ago"}
