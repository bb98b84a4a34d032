"""What the remediation feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret. What only one remediation says lives with it, at the end of
its module in `bot.remediation.actions`, so that a remediation is one module.

Sentences are mrkdwn with what they echo escaped; the phrases typed `Plain` (a rollout's
progress, why a change failed) are stored in the record and escaped where the card shows them.
"""

from __future__ import annotations

from bot import messages as shared
from bot.blockkit import Mrkdwn, Plain, code, counted, escape
from bot.blockkit import user as mention


def deployment_state(ready: int, replicas: int, images: str, revision: str) -> Plain:
    return f"{ready}/{replicas} ready · {images} · revision {revision}"


def rollout_deadline(ready: int, wanted: int) -> Plain:
    return f"the rollout exceeded its progress deadline ({ready}/{wanted} ready)"


def rollout_waiting_controller() -> Plain:
    return "waiting for the deployment controller to see the change"


def rollout_updated(updated: int, wanted: int) -> Plain:
    return f"{updated} of {counted(wanted, 'new replica')} created"


def rollout_old_pods(old: int) -> Plain:
    return f"{counted(old, 'old replica')} still terminating"


def rollout_available(available: int, updated: int) -> Plain:
    return f"{available} of {counted(updated, 'updated replica')} available"


def rollout_done(ready: int, wanted: int) -> Plain:
    return f"rolled out: {ready}/{wanted} replicas ready"


def remediation_disabled() -> str:
    return (
        "🚫 Remediation is switched off in the Fireline policy (`remediation.enabled: false`). "
        "Make the change by hand, or ask an admin to switch it on."
    )


def remediation_not_allowed(action: str, listed: list[str]) -> str:
    open_ = ", ".join(code(a) for a in listed) or "none"
    return (
        f"🚫 {code(action)} is not enabled in the policy's `remediation.actions` "
        f"(enabled: {open_})."
    )


def namespace_frozen(namespace: str) -> str:
    return (
        f"🧊 {code(namespace)} is frozen in the Fireline policy: nothing may be changed there. "
        "Ask an admin to lift the freeze, or make the change by hand under your change process."
    )


def remediation_namespace(action: str, namespace: str, allowed: tuple[str, ...]) -> str:
    listed = escape(", ".join(allowed) or "none")
    return f"🚫 {code(action)} may not change anything in {code(namespace)} (allowed: {listed})."


def _either(roles: tuple[str, ...]) -> str:
    return shared._either(roles, "a role the policy does not name")


def _held_by(holders: Mrkdwn) -> str:
    return f" Held by {holders}." if holders else ""


def remediation_request_role(
    action: str, held: list[str], allowing: tuple[str, ...], holders: Mrkdwn = ""
) -> str:
    return (
        f"🚫 Requesting {code(action)} needs the role {_either(allowing)}; you have "
        f"{shared._roles(held)}.{_held_by(holders)} Ask someone who has it, or an admin to add you."
    )


def self_approval_refused(
    remediation_id: str,
    severity: str | None = None,
    roles: tuple[str, ...] = (),
    holders: Mrkdwn = "",
) -> str:
    graded = f" (the incident has been {escape(severity)})" if severity else ""
    return (
        f"🚫 You requested {escape(remediation_id)}, so someone else must approve it{graded}: "
        f"someone with the role {_either(roles)}.{_held_by(holders)} Nothing was changed; ask "
        "one of them to click Approve."
    )


def cannot_approve(
    remediation_id: str,
    roles: tuple[str, ...],
    held: list[str],
    holders: Mrkdwn = "",
    commanding: bool = False,
) -> str:
    note = " Being the incident's commander is not enough." if commanding else ""
    return (
        f"🚫 Only someone with the role {_either(roles)} can approve or deny "
        f"{escape(remediation_id)}; you have {shared._roles(held)}.{note}{_held_by(holders)} "
        "Nothing was changed."
    )


def only_requester_cancels(remediation_id: str, requester: str) -> str:
    return (
        f"🚫 Only {mention(requester)}, who requested {escape(remediation_id)}, can cancel it. "
        "Ask them to, or click Deny if you hold an approving role."
    )


def remediation_cooldown(target: str, other: str, seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"⏳ {escape(target)} was changed by {escape(other)} moments ago; the policy's cooldown "
        "has about "
        f"{minutes} min left. Watch it settle, then request again."
    )


def remediation_open(target: str, other: str, in_thread: bool = False) -> str:
    where = "the thread of the message that asked for it" if in_thread else "the channel"
    return (
        f"{escape(other)} is already open for {escape(target)}. Approve, deny or cancel it (its "
        f"card is in {where}) before requesting another."
    )


_STANDING = {
    "pending": "waiting for approval",
    "approved": "approved and being applied",
    "executing": "approved and being applied",
    "verifying": "applied and being verified",
    "succeeded": "done",
    "failed": "over: it failed",
    "unknown": "over, its outcome unknown",
    "stale": "over: its target changed before it was applied",
    "expired": "over: it expired without approval",
    "denied": "over: it was denied",
    "cancelled": "over: it was cancelled",
}


def remediation_no_longer(remediation_id: str, state: str) -> str:
    """A click on a request that has moved on: what it is now, and that the click did nothing
    (not "nothing was changed": a request that is done changed something)."""
    standing = _STANDING.get(state, state)
    return f"{escape(remediation_id)} is already {escape(standing)}; this click did nothing."


def approval_unconfirmed(remediation_id: str) -> str:
    return (
        f"⚠️ Approving {escape(remediation_id)} could not be confirmed: Fireline lost Redis's "
        "answer. The card shows whether it was approved (it then applies on its own); if it "
        "still asks for approval, click again in a minute."
    )


def remediation_previewing(action: str, what: str) -> str:
    # The policy is checked after the ack: say so, so that a refusal after it reads as the
    # check's answer, not as a preview that never came.
    return (
        f"Checking the policy, then previewing {code(f'{action} {what}')} (a dry run; nothing "
        "changes yet) …"
    )


def remediation_requested(remediation_id: str) -> str:
    return f"{escape(remediation_id)} is waiting for approval: its card is in the channel."


def remediation_requested_in_thread(remediation_id: str) -> str:
    return (
        f"{escape(remediation_id)} is waiting for approval: its card is in the thread of the "
        "message you clicked."
    )


def remediation_unknown_id() -> str:
    return (
        "That remediation request no longer exists; nothing was changed. If the change is still "
        "needed, request it again (`/incident help` lists the remediations)."
    )


def remediation_bad_button() -> str:
    return (
        "That button does not carry a remediation Fireline understands; nothing was changed. "
        "Type the request instead (`/incident help` lists the remediations)."
    )


def remediation_state_line(
    state: str,
    *,
    approver: str | None,
    decided_by: str | None,
    reason: str | None,
    progress: str | None,
    expires: Mrkdwn,
    approvers: Mrkdwn,
) -> str:
    """`reason` and `progress` are the record's plain phrases; escaped here."""
    by = f" Approved by {mention(approver)}." if approver else ""
    reason = escape(reason or "")
    progress = escape(progress) if progress else None
    lines = {
        "pending": f"⏳ *Waiting for approval* by {approvers}. Expires {expires}.",
        "approved": f"✅ *Approved* by {mention(approver)}; applying …",
        "executing": f"⚙️ *Applying* (approved by {mention(approver)}) …",
        "verifying": f"🔄 *Applied*; following the rollout: {progress or 'starting'} …{by}",
        "succeeded": f"✅ *Done*: {progress}.{by}",
        "failed": f"❌ *Failed*: {reason}.{by}",
        "unknown": f"❓ *Outcome unknown*: {reason}.{by} Re-check to see where it stands.",
        "stale": f"♻️ *Not applied*: {reason}. Nothing was changed; preview again to decide "
        "on the target as it is now.",
        "expired": "⌛ *Expired* without approval. Nothing was changed.",
        "denied": f"🚫 *Denied* by {mention(decided_by)}: {reason}. Nothing was changed.",
        "cancelled": f"↩️ *Cancelled* by {mention(decided_by)}. Nothing was changed.",
    }
    return lines[state]


def remediation_approvers(roles: tuple[str, ...], self_ok: bool) -> Mrkdwn:
    """Who may approve, by role: "an approver or commander (not the requester)"."""
    if not roles:
        return "nobody (no role may approve)"
    rest = "" if self_ok else " (not the requester)"
    article = "an" if roles[0][:1].lower() in "aeio" else "a"
    return f"{article} {escape(' or '.join(roles))}{rest}"


def remediation_timeline(remediation_id: str, what: str, event: Mrkdwn) -> str:
    return f"🛠 {escape(remediation_id)} {code(what)}: {event}"


def target_changed(before: str, now: str) -> Plain:
    return f"the target changed since the preview (resourceVersion {before} → {now})"


def target_conflict() -> Plain:
    return "Kubernetes reported the target changed since the preview (409 Conflict)"


def target_gone(detail: str) -> Plain:
    return f"the target no longer exists ({detail})"


def write_outcome_unknown(detail: str) -> Plain:
    return f"{detail}; the change may or may not have been applied"


def interrupted_not_applied() -> Plain:
    return (
        "the write was interrupted and Kubernetes does not show the change, so nothing was "
        "changed; request it again if it is still needed"
    )


def not_read_before_applying(detail: str) -> Plain:
    return f"the target could not be read before applying ({detail}); nothing was changed"


def verify_timed_out(seconds: float, seen: str) -> Plain:
    return f"applied, but not settled after {seconds:g} s (last seen: {seen})"


def verify_unreachable(detail: str) -> Plain:
    return f"applied, but Kubernetes could not be read to verify it ({detail})"


def remediation_event(state: str, actor: str | None, detail: str | None) -> Mrkdwn:
    who = f" by {mention(actor)}" if actor else ""
    return f"{escape(state)}{who}" + (f": {escape(detail)}" if detail else "")


# --- the button that asked, and a later click on it ------------------------------------------


def offer_line(
    state: str,
    what: str,
    remediation_id: str,
    *,
    requester: str,
    approver: str | None,
    decided_by: str | None,
    when: Mrkdwn,
    detail: Mrkdwn | None,
    again: str,
    fresh: str,
) -> Mrkdwn:
    """What takes the place of the button that asked for a request, by where it stands:
    `detail` (mrkdwn, escaped) is the change made (succeeded) or the record's reason or
    progress; `again` the request as typed, `fresh` the command for a fresh view ("" when there
    is none)."""
    rid, detail = escape(remediation_id), detail or ""
    view = f" For a fresh view: {code(fresh)}." if fresh else ""
    applying = f"⚙️ {rid} approved by {mention(approver)}; being applied (its card in the thread)."
    lines = {
        "pending": f"⏳ Requested as {rid} by {mention(requester)}; its approval card is in the "
        "thread.",
        "approved": applying,
        "executing": applying,
        "verifying": applying,
        "succeeded": f"✅ Done as {rid} {when} (requested by {mention(requester)}, approved by "
        f"{mention(approver)}): {detail}.{view}",
        "failed": f"❌ {rid} failed {when}: {detail}. Its card in the thread says more.",
        "unknown": f"❓ {rid}'s outcome is unknown: {detail}. Re-check on its card in the thread.",
        "stale": f"♻️ {rid} was not applied: {detail}. Its card in the thread offers Preview again.",
        "expired": f"⌛ {rid} expired without approval {when}; nothing was changed. To ask "
        f"again: {code(again)}.",
        "denied": f"🚫 {rid} was denied by {mention(decided_by)}: {detail}. Nothing was changed.",
        "cancelled": f"↩️ {rid} was cancelled by {mention(decided_by)}; nothing was changed. To "
        f"ask again: {code(again)}.",
    }
    return f"{code(what)} — {lines[state]}"


def offer_outdated(target: str, moved: list[str], by: Mrkdwn, fresh: str) -> str:
    """A button clicked after its target changed: nothing was requested; what is true now, what
    changed it (`by`, when Fireline did), and what to run instead."""
    return (
        f"♻️ Nothing was requested: {code(target)} has changed since this button was offered "
        f"({escape('; '.join(moved))}).{by} For a fresh view and fresh buttons: {code(fresh)}."
    )


def offer_outdated_line(target: str, moved: list[str], fresh: str) -> str:
    """In place of a button clicked after its target changed (it requested nothing): what
    changed, and what to run for a fresh view and fresh buttons."""
    return (
        f"♻️ Outdated: {code(target)} has changed since this was offered "
        f"({escape('; '.join(moved))}); nothing was requested. For a fresh view and fresh "
        f"buttons: {code(fresh)}."
    )


def offer_changed_by(
    remediation_id: str, what: str, approver: str | None, when: Mrkdwn, changes: Mrkdwn
) -> Mrkdwn:
    """` R-1 (`rollback checkout`, approved by @apollo) changed it <when>: <changes>.`
    (`changes` mrkdwn, escaped)."""
    by = f", approved by {mention(approver)}" if approver else ""
    return f" {escape(remediation_id)} ({code(what)}{by}) changed it {when}: {changes}."


def moved_revision(then: int, now: str, images: str) -> Plain:
    return f"revision {then} then, revision {now} now: {images}"


def moved_replicas(then: int, now: int) -> Plain:
    return f"{counted(then, 'replica')} then, {now} now"
