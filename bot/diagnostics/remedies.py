"""Whether a remediation can be done now, and why it is offered: read from a diagnosis.

A button that answers "no earlier revision" when clicked should not have been shown. Before a
remediation is offered — by the diagnosis, or by a playbook's guidance — its preconditions are
checked against what `diagnose` read:

- the policy lets it touch this namespace at all (remediation on, the action listed, the
  namespace inside its patterns, not frozen);
- `rollback`: an earlier revision exists, and the trouble did not begin before the latest
  rollout (then rolling back would undo an innocent release);
- `scale`: the deployment runs fewer replicas than the policy's maximum, the number asked is
  within the policy's bounds, and no autoscaler would scale it straight back;
- `restart`: the deployment has pods;
- `delete-pod`: the pod exists, is in trouble, and another pod is ready to take its load.

Each check answers with a `Verdict`: offered or not, and the reason, one line, shown beside
the button or in the note saying what was left out, and what the target was when it was
offered (`seen`: the revision a rollback or restart starts from, the replicas a scale starts
from, and when), which the button carries so that a click after the target has moved on (the
rollback already done) is answered as stale rather than taken as a new request. The
remediations are known here by name only (diagnostics never import remediation; the policy and
the approval flow use the same names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.blockkit import counted
from bot.diagnostics.evidence import Evidence
from bot.policy.models import Policy
from bot.policy.remediation import RemediationRule, matches


@dataclass(frozen=True)
class Verdict:
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    offered: bool = False
    reason: str = ""
    seen: dict[str, int] = field(default_factory=dict)
    """What the target was when this was offered (`revision`, `replicas`) and when (`at`, epoch
    seconds): a button's value carries it as `offered`; see `seen()`."""


TROUBLE_AFTER = "the trouble began after "
"""How an offered rollback's reason begins when the trouble began after the latest rollout: a
finding that proposes it says so in its own words, so `diagnose` leaves this clause out."""

Check = Callable[[Mapping[str, Any], Evidence, RemediationRule], tuple[bool, str]]


def _rollback(
    params: Mapping[str, Any], evidence: Evidence, rule: RemediationRule
) -> tuple[bool, str]:
    if evidence.revisions is None:
        return False, "its revisions could not be read"
    latest = evidence.latest
    wanted = params.get("to_revision")
    earlier = [r for r in evidence.revisions[1:] if wanted is None or r.number == wanted]
    if latest is None or not earlier:
        return False, f"`{evidence.deployment}` has no earlier revision to go back to"
    target = earlier[0]
    if evidence.began_before_rollout():
        began = evidence.trouble_began()
        when = f"{evidence.ago(began)} ago" if began else "earlier"
        return False, (
            f"the trouble began {when}, before rev {latest.number} rolled out: "
            "rolling back would not undo it"
        )
    back = f"back to rev {target.number} ({target.images})"
    if evidence.began_after_rollout():
        return True, f"{TROUBLE_AFTER}{evidence.rolled_out()}; {back}"
    rolled = evidence.rolled_out() or f"rev {latest.number} is current"
    return True, f"{rolled}; {back} (when the trouble began is not known)"


def _scale(
    params: Mapping[str, Any], evidence: Evidence, rule: RemediationRule
) -> tuple[bool, str]:
    current = evidence.replicas
    wanted = params.get("replicas")
    if current >= rule.max_replicas:
        return False, f"it runs {current} replicas, the most the policy allows"
    if isinstance(wanted, int):
        if wanted <= current:
            return False, f"it already runs {current} replicas"
        if wanted > rule.max_replicas:
            return False, f"{wanted} is above the policy's maximum of {rule.max_replicas}"
        if wanted - current > rule.max_step:
            return False, f"{current} → {wanted} is a larger step than the policy's {rule.max_step}"
    hpa = evidence.hpa()
    if hpa is not None:
        most = int((hpa.get("spec") or {}).get("maxReplicas") or 0)
        if not isinstance(wanted, int) or wanted > most:
            return False, (
                f"the HPA `{hpa['metadata']['name']}` would scale it back to at most {most}; "
                "raise its maxReplicas instead"
            )
    to = f" to {wanted}" if isinstance(wanted, int) else ""
    return True, f"runs {current} of the policy's {rule.max_replicas} at most; scale{to}"


def _restart(
    params: Mapping[str, Any], evidence: Evidence, rule: RemediationRule
) -> tuple[bool, str]:
    if not evidence.pods:
        return False, f"`{evidence.deployment}` has no pods to restart"
    return True, f"replaces its {len(evidence.pods)} pods one at a time"


def _delete_pod(
    params: Mapping[str, Any], evidence: Evidence, rule: RemediationRule
) -> tuple[bool, str]:
    name = str(params.get("pod") or "")
    pod = next((p for p in evidence.pods if p.name == name), None)
    if pod is None:
        return False, f"pod `{name}` no longer exists"
    others = [p for p in evidence.pods if p.name != name and p.row.is_ready]
    if pod.row.is_ready and not pod.row.restarts:
        return False, f"pod `{name}` is ready and has not restarted"
    if not others:
        return False, "no other pod is ready: deleting one would not help"
    ready = f"{counted(len(others), 'other')} {'is' if len(others) == 1 else 'are'} ready"
    return True, f"`{name}` is in trouble ({pod.row.reason}) while {ready}"


SEEN: dict[str, tuple[str, ...]] = {
    "rollback": ("revision",),
    "restart": ("revision",),
    "scale": ("revision", "replicas"),
}
"""What each remediation's offer rests on: the revision running (a rollback or a restart makes a
new one; so does a release, after which the diagnosis is out of date), and for a scale the
replicas too. Not the replicas for a rollback or restart: an autoscaler moves them without
making those offers wrong."""


def seen(action: str, evidence: Evidence) -> dict[str, int]:
    """The facts `action`'s offer rests on, as `diagnose` read them, and when."""
    facts = {"replicas": evidence.replicas}
    if evidence.latest is not None:
        facts["revision"] = evidence.latest.number
    out = {name: facts[name] for name in SEEN.get(action, ()) if name in facts}
    return {**out, "at": int(evidence.now.timestamp())} if out else {}


PRECONDITIONS: dict[str, Check] = {
    "rollback": _rollback,
    "scale": _scale,
    "restart": _restart,
    "delete-pod": _delete_pod,
}


def check(
    action: str,
    params: Mapping[str, Any],
    evidence: Evidence,
    policy: Policy,
    *,
    cluster: str | None,
) -> Verdict:
    """Whether `action` with `params` can be done on what `evidence` describes, and why."""
    section = policy.remediation
    rule = section.actions.get(action)
    namespace = evidence.namespace
    values = dict(params)
    if not section.enabled:
        return Verdict(action, values, False, "remediation is off in the policy")
    if rule is None:
        return Verdict(action, values, False, f"the policy does not allow `{action}`")
    allowed = policy.clusters[cluster].namespaces if cluster in policy.clusters else ()
    if section.frozen(namespace):
        return Verdict(action, values, False, f"`{namespace}` is frozen")
    if not matches(namespace, rule.namespaces) or not matches(namespace, allowed):
        return Verdict(action, values, False, f"the policy keeps `{action}` out of `{namespace}`")
    precondition = PRECONDITIONS.get(action)
    if precondition is None:
        return Verdict(action, values, True, "", seen(action, evidence))
    offered, reason = precondition(params, evidence, rule)
    return Verdict(action, values, offered, reason, seen(action, evidence))
