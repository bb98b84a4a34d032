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
    from bot.commands import SUBCOMMANDS  # late: commands imports this module

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
