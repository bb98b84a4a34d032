"""Every sentence Fireline says to a person, as small functions (bolt keeps its own this way).

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

HELP_FOOTER = (
    "In an incident channel the ID can be left out; elsewhere put it after the subcommand, "
    "e.g. `/incident ack INC-42`."
)


KUBE_FOOTER = (
    "Kubernetes diagnostics also take `-n <namespace>` and `--cluster <name>` (the policy's "
    "defaults when left out)."
)


def usage(actions: list[tuple[str, str]] | None = None) -> str:
    from bot.commands.parser import SUBCOMMANDS  # late: commands imports this module

    width = max(len(s.usage) for s in SUBCOMMANDS)
    lines = [f"/incident {s.usage.ljust(width)}  {s.summary}" for s in SUBCOMMANDS]
    text = "*Fireline* — `/incident` commands:\n```" + "\n".join(lines) + "```\n" + HELP_FOOTER
    if actions:
        diag = [f"/incident {u}\n    {h}" for u, h in actions]
        text += "\n*Diagnostics* (what you may run depends on your role):\n```"
        text += "\n".join(diag) + "```\n" + KUBE_FOOTER
    return text


def unknown_subcommand(word: str, suggestion: str | None) -> str:
    hint = f" Did you mean `/incident {suggestion}`?" if suggestion else ""
    return f"`{word}` is not an `/incident` command.{hint} `/incident help` lists them all."


def id_before_subcommand(word: str) -> str:
    return f"Put the subcommand first and the ID after it, e.g. `/incident status {word.upper()}`."


def unexpected_arguments(usage_text: str, rest: str) -> str:
    return f"`{rest}` was not expected here. Type `/incident {usage_text}`."


def missing_title(severity: str) -> str:
    return f"Give the incident a title: `/incident declare {severity} <what is broken>`."


def title_too_long(length: int, limit: int) -> str:
    return (
        f"That title is {length} characters; keep it under {limit}. Put details in "
        "`/incident note` once the incident is declared."
    )


def bad_severity(token: str, usage_text: str) -> str:
    return (
        f"`{token}` is not a severity. Use P0 (outage, data loss, breach), P1 (major, > 5 % "
        f"errors), P2 (minor) or P3 (minor bug): `/incident {usage_text}`."
    )


def assign_usage(usage_text: str) -> str:
    return f"Name a role and a person: `/incident {usage_text}`, e.g. `assign comms @dana`."


def bad_role(word: str, usage_text: str) -> str:
    return (
        f"`{word}` is not a role. Roles are commander, comms and scribe: `/incident {usage_text}`."
    )


def bad_mention(word: str, usage_text: str) -> str:
    return (
        f"`{word}` is not a person. Type `@` and pick them from Slack's list: "
        f"`/incident {usage_text}`."
    )


def missing_text(usage_text: str) -> str:
    return f"Add the text: `/incident {usage_text}`."


def text_too_long(length: int, limit: int, usage_text: str) -> str:
    return (
        f"That text is {length} characters; Slack shows at most {limit}. Split it in two: "
        f"`/incident {usage_text}` twice."
    )


def needs_incident(usage_text: str) -> str:
    return (
        "This is not an incident channel, so say which incident: "
        f"`/incident {usage_text.split(' ')[0]} INC-42 …`. `/incident list` shows the open ones."
    )


def not_an_incident_channel_for_click() -> str:
    return "That button belongs to an incident Fireline no longer knows about."


def declaring(title: str, severity: str, defaulted: bool) -> str:
    note = (
        f" Severity {severity} (the default; add P0–P3 before the title to choose)."
        if defaulted
        else f" Severity {severity}."
    )
    return f"Declaring *{title}* …{note}"


def declared(incident_id: str, channel_id: str, severity: str, defaulted: bool) -> str:
    note = " (default — change it with `/incident severity P1`)" if defaulted else ""
    return (
        f"{incident_id} declared as {severity}{note}. Join <#{channel_id}> — it has the live card."
    )


def declare_incomplete(incident_id: str, what: str) -> str:
    return (
        f"{incident_id} is recorded, but {what}. Fireline keeps trying; "
        f"`/incident status {incident_id}` shows where it stands."
    )


def already_declared(incident_id: str, channel_id: str | None) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return f"That request already declared {incident_id}{where}; nothing new was created."


def alert_already_acknowledged() -> str:
    return "Someone acknowledged these alerts already; the alert message shows who."


def delivered_twice() -> str:
    return "Already done: Slack delivered that command twice, so it ran once."


def setup_incomplete(reason: str) -> str:
    return f"⚠️ Slack set-up incomplete: {reason}. Fireline retries every 30 seconds."


def nothing_changed(incident_id: str, what: str) -> str:
    return f"{incident_id} {what} already; nothing changed."


def done(incident_id: str, what: str) -> str:
    return f"{incident_id}: {what}."


def failed(what: str) -> str:
    return (
        f"⚠️ {what} did not happen: Fireline could not reach Slack or Redis. Try again in a minute."
    )


def slack_refused(what: str, code: str) -> str:
    return f"⚠️ {what} did not happen: Slack refused it (`{code}`)."


def no_open_incidents() -> str:
    return "No open incidents. 🎉 `/incident declare <title>` starts one."


def report_posted(incident_id: str) -> str:
    return f"The post-incident report for {incident_id} is uploaded to this channel."


def modal_title_missing() -> str:
    return "Give the incident a short title: what is broken, for whom."


# --- diagnostics ----------------------------------------------------------------------------


def _roles(roles: list[str]) -> str:
    return ", ".join(roles) if roles else "none"


def denied_action(action: str, held: list[str], allowing: list[str]) -> str:
    need = " or ".join(allowing) if allowing else "a role the policy does not define"
    return (
        f"🚫 `{action}` needs the role {need}; you have {_roles(held)}. "
        "Ask an admin to add you (or your user group) to that role in the Fireline policy."
    )


def denied_namespace_cluster(namespace: str, cluster: str, allowed: tuple[str, ...]) -> str:
    return (
        f"🚫 Namespace `{namespace}` is not open to Fireline in cluster `{cluster}` "
        f"(allowed: {', '.join(allowed)}). Use `-n` with one of those."
    )


def denied_namespace_role(namespace: str, held: list[str], granting: list[str]) -> str:
    need = " or ".join(granting) if granting else "no role"
    return (
        f"🚫 Your roles ({_roles(held)}) do not cover namespace `{namespace}`; "
        f"{need} would. Ask an admin to extend your role in the Fireline policy."
    )


def denied_target(target: str, held: list[str], granting: list[str], field: str) -> str:
    need = " or ".join(granting) if granting else "no role"
    return (
        f"🚫 Your roles ({_roles(held)}) do not reach {target}; {need} would. "
        f"Ask an admin to add it to your role's `{field}` in the Fireline policy."
    )


def diagnose_query_not_reached(query: str) -> str:
    return f"query: not included (your roles do not reach query `{query}`)"


def rate_limited(limit: int, retry_after: float) -> str:
    return (
        f"⏳ You ran {limit} actions in the last minute, the most the policy allows. "
        f"Try again in {max(1, round(retry_after))} s."
    )


def no_such_object(kind: str, name: str, namespace: str, close: list[str]) -> str:
    hint = "; did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else "."
    return f"No {kind} `{name}` in `{namespace}`{hint}"


def no_such_named(kind: str, name: str, known: list[str], close: list[str]) -> str:
    if not known:
        return f"No {kind} is configured in the Fireline policy, so `{name}` cannot be run."
    hint = " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else ""
    return f"No {kind} `{name}`.{hint} Configured: {', '.join(f'`{k}`' for k in known)}."


def no_cluster_configured() -> str:
    return (
        "No Kubernetes cluster is configured in the Fireline policy (or several are and none is "
        "the default). An admin sets `clusters` and `default_cluster` in the policy file."
    )


def not_configured(what: str) -> str:
    return f"{what} is not configured in the Fireline policy; an admin can add it."


def bad_quoting(problem: str, usage_text: str) -> str:
    return f"Those arguments do not parse ({problem}). Type `/incident {usage_text}`."


def bad_argument(field: str, problem: str, usage_text: str) -> str:
    return f"`{field}` {problem}. Type `/incident {usage_text}`."


def missing_argument(field: str, usage_text: str) -> str:
    return f"Say which {field}: `/incident {usage_text}`."


def unknown_flag(flag: str, usage_text: str) -> str:
    return f"`{flag}` is not an option here. Type `/incident {usage_text}`."


def flag_needs_value(flag: str, usage_text: str) -> str:
    return f"`{flag}` needs a value after it. Type `/incident {usage_text}`."


def running(action: str, what: str) -> str:
    return f"Running `{action}` on {what} …"


def action_timed_out(action: str, seconds: float) -> str:
    return f"`{action}` did not finish within {seconds:g} s"


def action_failed(action: str, reason: str) -> str:
    return f"⚠️ `{action}` could not run: {reason}"


def internal_error() -> str:
    return "Fireline hit an internal error (it is in the bot's log); try another diagnostic"


def posted_here_only(reason: str) -> str:
    return f"(Shown only to you: Fireline could not post in this channel — {reason}.)"


def no_log_lines(grep: str | None) -> str:
    return f"No lines match `{grep}`." if grep else "No log lines in that window."


def timeline_action(action: str, target: str, outcome: str, headline: str) -> str:
    return f"ran `{action}` on {target}: {outcome}" + (f" — {headline}" if headline else "")


def diagnose_next(deployment: str) -> str:
    return (
        f"Next: `/incident logs {deployment} --since 30m` groups the error lines; "
        f"`/incident events {deployment}` shows what Kubernetes did."
    )


# --- checklists and reminders (issue 3) --------------------------------------------------------

LATE_AFTER_S = 60.0
"""A checklist or reminder posted this much after its time says it is late, and by how much."""


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def checklist_heading(incident_id: str, title: str, late_by: float) -> str:
    return f"📋 {incident_id} checklist: {title}"


def late(late_by: float) -> str:
    return f"⏱ Posted {_span(late_by)} late: Fireline was not running at its time."


def checklist_fallback(incident_id: str, title: str, answered: int, total: int) -> str:
    return f"📋 {incident_id} checklist: {title} ({answered}/{total} answered)"


def overdue_heading(commander: str | None, count: int) -> str:
    who = f"<@{commander}>, " if commander else ""
    items = "item is" if count == 1 else "items are"
    return f"⚠️ {who}{count} {items} still open from earlier checklists:"


def checklist_answered(incident_id: str, title: str, item: str, kind: str, user: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return f"Checklist ({title}): “{item}” marked {what} by <@{user}>"


def checklist_already_answered(item: str, kind: str, user: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return f"“{item}” was already marked {what} by <@{user}>; your click changed nothing."


def checklist_thanks(item: str, kind: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return f"Recorded: “{item}” is {what}."


def checklist_unknown() -> str:
    return "That checklist is not one Fireline posted; nothing was recorded."


def ack_reminder(incident_id: str, severity: str, commander: str | None, late_s: float) -> str:
    who = f"<@{commander}>, " if commander else ""
    return (
        f"⏰ {who}{incident_id} ({severity}) has not been acknowledged yet. Acknowledge it "
        f"(button below or `/incident ack`), or it is escalated to on-call."
    )


def escalation(incident_id: str, severity: str, group: str | None, waited_s: float) -> str:
    page = f"<!subteam^{group}> " if group else ""
    missing = "" if group else f" (no on-call group is set for {severity}: FIRELINE_ONCALL_GROUPS)"
    return (
        f"🚨 {page}{incident_id} ({severity}) is escalated: not acknowledged "
        f"{_span(waited_s)} after it was declared{missing}. `/incident ack {incident_id}`."
    )


def escalation_broadcast(incident_id: str, severity: str, channel: str | None) -> str:
    where = f" in <#{channel}>" if channel else ""
    return f"🚨 {incident_id} ({severity}) was escalated to on-call: not acknowledged{where}."


def update_reminder(incident_id: str, commander: str | None, silent_s: float) -> str:
    who = f"<@{commander}>, " if commander else ""
    return (
        f"📣 {who}no status update on {incident_id} for {_span(silent_s)}. Post one with "
        f"`/incident update <what changed, what is next>`."
    )


def snoozed(incident_id: str, user: str, choice: str) -> str:
    span = {"30m": "for 30 min", "1h": "for 1 h", "resolved": "until it is resolved"}[choice]
    return f"😴 Update reminders for {incident_id} snoozed {span} by <@{user}>."


def undeliverable(what: str, code: str, channel: str | None) -> str:
    where = f" in <#{channel}>" if channel else ""
    reason = {
        "is_archived": "the channel is archived",
        "not_in_channel": "Fireline was removed from the channel",
        "channel_not_found": "the channel no longer exists or Fireline cannot see it",
        "invalid_auth": "Fireline's Slack token is no longer valid",
        "token_revoked": "Fireline's Slack token was revoked",
        "account_inactive": "Fireline's Slack app was deactivated",
        "gave_up": "Slack kept failing after repeated retries",
    }.get(code, f"Slack refused it ({code})")
    return f"⚠️ {what} could not be posted{where}: {reason}. It will not be retried."


# --- remediation ----------------------------------------------------------------------------


def kube_write_forbidden(verb: str, resource: str, namespace: str) -> str:
    where = f" in `{namespace}`" if namespace else ""
    return (
        f"Kubernetes refused: Fireline's service account may not `{verb}` `{resource}`{where}. "
        f"Grant `{verb}` on `{resource}` in the fireline-remediation Role and bind it in that "
        "namespace (deploy/kubernetes/rbac-remediation.yaml)."
    )


def deployment_state(ready: int, replicas: int, images: str, revision: str) -> str:
    return f"{ready}/{replicas} ready · {images} · revision {revision}"


def pods_running(replicas: int) -> str:
    return f"{replicas} pod(s) running"


def pods_replaced(replicas: int) -> str:
    return f"{replicas} new pod(s), replaced one by one (rolling)"


def scale_unchanged(deployment: str, replicas: int) -> str:
    return f"`{deployment}` already runs {replicas} replicas; nothing to change."


def scale_out_of_bounds(wanted: int, low: int, high: int) -> str:
    return (
        f"{wanted} replicas is outside what the policy allows ({low}–{high}). "
        f"Ask for a number between {low} and {high}."
    )


def scale_step_too_big(before: int, wanted: int, step: int) -> str:
    nearest = before + step if wanted > before else max(before - step, 0)
    return (
        f"{before} → {wanted} is a step of {abs(wanted - before)}; the policy allows at most "
        f"{step} at a time. Try `{nearest}` first."
    )


def rollback_same_template(deployment: str, revision: int) -> str:
    return f"`{deployment}` already runs revision {revision}'s pod template; nothing to roll back."


def revision_after(revision: int) -> str:
    return f"{revision}'s template (recorded as a new revision)"


def no_previous_revision(deployment: str) -> str:
    return (
        f"`{deployment}` has no earlier revision to roll back to. "
        f"`/incident rollout-history {deployment}` shows what it has."
    )


def no_such_revision(deployment: str, revision: int, known: list[int]) -> str:
    listed = ", ".join(str(n) for n in known) or "none"
    return f"`{deployment}` has no revision {revision} (it has: {listed})."


def rollout_deadline(ready: int, wanted: int) -> str:
    return f"the rollout exceeded its progress deadline ({ready}/{wanted} ready)"


def rollout_waiting_controller() -> str:
    return "waiting for the deployment controller to see the change"


def rollout_updated(updated: int, wanted: int) -> str:
    return f"{updated} of {wanted} new replicas created"


def rollout_old_pods(old: int) -> str:
    return f"{old} old replica(s) still terminating"


def rollout_available(available: int, updated: int) -> str:
    return f"{available} of {updated} updated replicas available"


def rollout_done(ready: int, wanted: int) -> str:
    return f"rolled out: {ready}/{wanted} replicas ready"


def pod_without_controller(pod: str) -> str:
    return (
        f"`{pod}` has no controller, so nothing would replace it. Fireline only deletes pods a "
        "ReplicaSet will replace."
    )


def pod_state(pod: dict[str, object]) -> str:
    status = pod.get("status") or {}
    assert isinstance(status, dict)
    statuses = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    ready = sum(1 for c in statuses if c.get("ready"))
    return f"{status.get('phase', '?')}, {ready}/{len(statuses)} ready, {restarts} restart(s)"


def pod_replaced(owner_kind: str, owner: str) -> str:
    return f"deleted; {owner_kind} {owner} starts a replacement"


def replacement_ready(pod: str) -> str:
    return f"replacement pod {pod} is Ready"


def replacement_waiting(pod: str | None) -> str:
    return f"replacement pod {pod} not Ready yet" if pod else "no replacement pod yet"


def remediation_disabled() -> str:
    return (
        "🚫 Remediation is switched off in the Fireline policy (`remediation.enabled: false`). "
        "Make the change by hand, or ask an admin to switch it on."
    )


def remediation_not_allowed(action: str, listed: list[str]) -> str:
    open_ = ", ".join(f"`{a}`" for a in listed) or "none"
    return f"🚫 `{action}` is not enabled in the policy's `remediation.actions` (enabled: {open_})."


def namespace_frozen(namespace: str) -> str:
    return (
        f"🧊 `{namespace}` is frozen in the Fireline policy: nothing may be changed there. "
        "Ask an admin to lift the freeze, or make the change by hand under your change process."
    )


def remediation_namespace(action: str, namespace: str, allowed: tuple[str, ...]) -> str:
    listed = ", ".join(allowed) or "none"
    return f"🚫 `{action}` may not change anything in `{namespace}` (allowed: {listed})."


def remediation_request_role(action: str, held: list[str], allowing: tuple[str, ...]) -> str:
    need = " or ".join(allowing) or "a role the policy does not name"
    return (
        f"🚫 Requesting `{action}` needs the role {need}; you have {_roles(held)}. "
        "Ask someone who has it, or an admin to add you."
    )


def self_approval_refused(remediation_id: str) -> str:
    return (
        f"🚫 You requested {remediation_id}, so someone else must approve it: the incident "
        "commander or an approver named in the policy."
    )


def cannot_approve(
    remediation_id: str, commander: str | None, roles: tuple[str, ...], held: list[str]
) -> str:
    who = f"the incident commander (<@{commander}>)" if commander else "the incident commander"
    return (
        f"🚫 Only {who} or someone with the role {' or '.join(roles) or '(none)'} can approve or "
        f"deny {remediation_id}; you have {_roles(held)}. Nothing was changed."
    )


def only_requester_cancels(remediation_id: str, requester: str) -> str:
    return f"🚫 Only <@{requester}>, who requested {remediation_id}, can cancel it."


def remediation_cooldown(target: str, other: str, seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"⏳ {target} was changed by {other} moments ago; the policy's cooldown has about "
        f"{minutes} min left. Watch it settle, then request again."
    )


def remediation_open(target: str, other: str) -> str:
    return (
        f"{other} is already open for {target}. Approve, deny or cancel it (its card is in "
        "the channel) before requesting another."
    )


def remediation_no_longer(remediation_id: str, state: str) -> str:
    return f"{remediation_id} is {state}; nothing was changed."


def remediation_previewing(action: str, what: str) -> str:
    return f"Previewing `{action} {what}` (a dry run; nothing changes yet) …"


def remediation_requested(remediation_id: str) -> str:
    return f"{remediation_id} is waiting for approval: its card is in the channel."


def remediation_unknown_id() -> str:
    return "That remediation request no longer exists; nothing was changed."


def remediation_bad_button() -> str:
    return "That button does not carry a remediation Fireline understands; nothing was changed."


def deny_reason_missing() -> str:
    return "Say why it is denied: the requester reads this."


def remediation_state_line(
    state: str,
    *,
    approver: str | None,
    decided_by: str | None,
    reason: str | None,
    progress: str | None,
    expires: str,
    approvers: str,
) -> str:
    by = f" Approved by <@{approver}>." if approver else ""
    lines = {
        "pending": f"⏳ *Waiting for approval* by {approvers}. Expires {expires}.",
        "approved": f"✅ *Approved* by <@{approver}>; applying …",
        "executing": f"⚙️ *Applying* (approved by <@{approver}>) …",
        "verifying": f"🔄 *Applied*; following the rollout: {progress or 'starting'} …{by}",
        "succeeded": f"✅ *Done*: {progress}.{by}",
        "failed": f"❌ *Failed*: {reason}.{by}",
        "unknown": f"❓ *Outcome unknown*: {reason}.{by} Re-check to see where it stands.",
        "stale": f"♻️ *Not applied*: {reason}. Nothing was changed; preview again to decide "
        "on the target as it is now.",
        "expired": "⌛ *Expired* without approval. Nothing was changed.",
        "denied": f"🚫 *Denied* by <@{decided_by}>: {reason}. Nothing was changed.",
        "cancelled": f"↩️ *Cancelled* by <@{decided_by}>. Nothing was changed.",
    }
    return lines[state]


def remediation_approvers(commander: str | None, roles: tuple[str, ...], self_ok: bool) -> str:
    who = f"the incident commander <@{commander}>" if commander else "the incident commander"
    rest = "" if self_ok else " (not the requester)"
    return f"{who} or a {' / '.join(roles)}{rest}"


def remediation_timeline(remediation_id: str, what: str, event: str) -> str:
    return f"🛠 {remediation_id} `{what}`: {event}"


def target_changed(before: str, now: str) -> str:
    return f"the target changed since the preview (resourceVersion {before} → {now})"


def target_conflict() -> str:
    return "Kubernetes reported the target changed since the preview (409 Conflict)"


def target_gone(detail: str) -> str:
    return f"the target no longer exists ({detail})"


def write_outcome_unknown(detail: str) -> str:
    return f"{detail}; the change may or may not have been applied"


def interrupted_not_applied() -> str:
    return (
        "the write was interrupted and Kubernetes does not show the change, so nothing was "
        "changed; request it again if it is still needed"
    )


def not_read_before_applying(detail: str) -> str:
    return f"the target could not be read before applying ({detail}); nothing was changed"


def verify_timed_out(seconds: float, seen: str) -> str:
    return f"applied, but not settled after {seconds:g} s (last seen: {seen})"


def verify_unreachable(detail: str) -> str:
    return f"applied, but Kubernetes could not be read to verify it ({detail})"


def remediation_event(state: str, actor: str | None, detail: str | None) -> str:
    who = f" by <@{actor}>" if actor else ""
    return f"{state}{who}" + (f": {detail}" if detail else "")


# --- playbooks and alert actions (issue 6) ---------------------------------------------------

PLAYBOOK_USAGE = "/incident playbook [name] [target] [-n namespace]"


def no_playbooks() -> str:
    return "Playbooks are not available in this Fireline."


def no_such_playbook(name: str, close: list[str]) -> str:
    hint = " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else ""
    return f"No playbook `{name}`.{hint} `/incident playbook` lists them."


def playbook_running(title: str, where: str) -> str:
    return f"Running the *{title}* playbook{where} … results follow in a thread."


def playbook_step_needs(action: str, field: str, labels: list[str]) -> str:
    wanted = " or ".join(f"`{label}`" for label in labels)
    return f"`{action}` not run: it needs {field}, from the label {wanted}, which is not set."


def playbook_step_failed(action: str, reason: str) -> str:
    return f"`{action}`: {reason}"


def playbook_problems(count: int, details: list[str]) -> str:
    return f"{count} playbook diagnostic(s) were not shown:\n" + "\n".join(
        f"• {d}" for d in details
    )


def playbook_cannot_post(code: str) -> str:
    return (
        f"Fireline cannot post the playbook in this channel ({code}). Invite it with "
        "`/invite @Fireline`, or run the playbook in an incident channel."
    )


def playbook_left_out(count: int, user: str | None) -> str:
    whom = f" — details sent to <@{user}>" if user else ""
    return f"⚠️ {count} diagnostic(s) not shown{whom}."


def alert_playbook_started(title: str, role: str) -> str:
    return f"📘 Playbook *{title}*: running its diagnostics (as the alert pipeline, role `{role}`)."


def alert_playbook_run_by(title: str, user: str) -> str:
    return f"📘 <@{user}> ran the *{title}* playbook."


def alert_no_playbook() -> str:
    return "No playbook matches these alerts. `/incident playbook` lists them all."


def alert_group_unknown() -> str:
    return "Fireline no longer knows that alert group; nothing was done."


def silence_not_configured() -> str:
    return (
        "Silences are not configured: set FIRELINE_ALERTMANAGER_URL to Alertmanager's address, "
        "then click again."
    )


def silence_denied(held: list[str], allowing: tuple[str, ...]) -> str:
    have = ", ".join(held) or "no role"
    need = " or ".join(allowing) or "a role the policy does not define"
    return f"🚫 Silencing alerts needs the role {need}; you have {have}. Nothing was silenced."


def silence_exists(user: str, until: str) -> str:
    return f"These alerts are already silenced by <@{user}> until {until}."


def silence_recorded(user: str, until: str, silence_id: str, matchers: str) -> str:
    return (
        f"🔕 <@{user}> silenced these alerts until {until} (Alertmanager silence "
        f"`{silence_id}`, matching {matchers})."
    )


def silence_no_matchers() -> str:
    return "These alerts share no labels, so a silence would match everything; nothing was done."


def silence_failed(reason: str) -> str:
    return f"The silence was not created: {reason}. Try again, or silence in Alertmanager."
