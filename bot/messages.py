"""Every sentence Fireline says to a person, as small functions (bolt keeps its own this way).

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

HELP_FOOTER = (
    "In an incident channel the ID can be left out; elsewhere put it after the subcommand, "
    "e.g. `/incident ack INC-42`."
)


def usage() -> str:
    from bot.commands import SUBCOMMANDS  # late: commands imports this module

    width = max(len(s.usage) for s in SUBCOMMANDS)
    lines = [f"/incident {s.usage.ljust(width)}  {s.summary}" for s in SUBCOMMANDS]
    return "*Fireline* — `/incident` commands:\n```" + "\n".join(lines) + "```\n" + HELP_FOOTER


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
