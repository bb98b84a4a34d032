"""A remediation is offered only when it can be done, with the reason; otherwise why not."""

from __future__ import annotations

from typing import Any

from bot.diagnostics.remedies import check
from bot.policy.remediation import RemediationPolicy, RemediationRule
from tests.diagnostics.conftest import make_policy
from tests.diagnostics.evidence_kit import evidence, logs, pod, raised, revisions

RULE = RemediationRule(namespaces=("orion-*",), max_replicas=8, max_step=4)
ON = RemediationPolicy(
    enabled=True, actions={a: RULE for a in ("rollback", "scale", "restart", "delete-pod")}
)
DEPLOYMENT = {"deployment": "app", "namespace": "orion-prod"}
ERRORS = [(m, 'ERROR upstream "x" returned 500') for m in range(10)]


def verdict(action: str, e: Any, params: dict[str, Any] | None = None, **policy: Any) -> Any:
    chosen = make_policy(remediation=policy.get("remediation", ON))
    return check(action, params or DEPLOYMENT, e, chosen, cluster="test")


def test_rollback_needs_an_earlier_revision() -> None:
    v = verdict("rollback", evidence(revs=revisions(3 * 1440)))
    assert not v.offered and v.reason == "`app` has no earlier revision to go back to"


def test_rollback_offered_when_the_trouble_began_after_the_rollout() -> None:
    e = evidence(revs=revisions(20, 5 * 1440), lines=logs(*ERRORS))
    v = verdict("rollback", e)
    assert v.offered and v.reason == (
        "the trouble began after rev 2 rolled out 20m ago; back to rev 1 (registry/app:1)"
    )


def test_rollback_not_offered_when_the_trouble_began_before_the_rollout() -> None:
    e = evidence(
        revs=revisions(12, 5 * 1440), lines=logs(*ERRORS),
        signals={"error-rate": raised("error-rate", 40, 20.0, 0.1, "percent")},
    )  # fmt: skip
    v = verdict("rollback", e)
    assert not v.offered
    assert v.reason == (
        "the trouble began 40m ago, before rev 2 rolled out: rolling back would not undo it"
    )


def test_rollback_when_the_start_is_unknown_says_so() -> None:
    v = verdict("rollback", evidence(revs=revisions(20, 5 * 1440)))
    assert v.offered and v.reason.endswith("(when the trouble began is not known)")


def test_scale_below_the_policy_max_and_not_against_an_autoscaler() -> None:
    assert verdict("scale", evidence(replicas=3), {**DEPLOYMENT, "replicas": 6}).offered
    v = verdict("scale", evidence(replicas=8), {**DEPLOYMENT, "replicas": 9})
    assert not v.offered and v.reason == "it runs 8 replicas, the most the policy allows"
    v = verdict("scale", evidence(replicas=3), {**DEPLOYMENT, "replicas": 12})
    assert not v.offered and v.reason == "12 is above the policy's maximum of 8"
    hpa = {"metadata": {"name": "app"}, "spec": {"scaleTargetRef": {"name": "app"},
                                                 "maxReplicas": 5}}  # fmt: skip
    v = verdict("scale", evidence(replicas=5, hpas=[hpa]), {**DEPLOYMENT, "replicas": 7})
    assert not v.offered and "would scale it back to at most 5" in v.reason


def test_delete_pod_only_for_a_pod_in_trouble_beside_ready_ones() -> None:
    pods = [pod("app-0", ready=False, restarts=7, reason="CrashLoopBackOff"), pod("app-1")]
    ok = verdict("delete-pod", evidence(pods=pods), {"pod": "app-0", "namespace": "orion-prod"})
    assert (
        ok.offered
        and ok.reason == "`app-0` is in trouble (CrashLoopBackOff) while 1 other is ready"
    )
    gone = verdict("delete-pod", evidence(pods=pods), {"pod": "app-9", "namespace": "orion-prod"})
    assert not gone.offered and gone.reason == "pod `app-9` no longer exists"


def test_the_policy_comes_first() -> None:
    e = evidence(revs=revisions(20, 5 * 1440), lines=logs(*ERRORS))
    off = verdict("restart", e, remediation=RemediationPolicy())
    assert not off.offered and off.reason == "remediation is off in the policy"
    unlisted = verdict("restart", e, remediation=RemediationPolicy(enabled=True))
    assert not unlisted.offered and unlisted.reason == "the policy does not allow `restart`"
    frozen = verdict(
        "restart", e, remediation=ON.model_copy(update={"frozen_namespaces": ("orion-*",)})
    )
    assert not frozen.offered and frozen.reason == "`orion-prod` is frozen"
    assert verdict("restart", e).offered
