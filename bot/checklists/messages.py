"""What the checklists feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import Plain, escape, usergroup
from bot.blockkit import channel as link_channel
from bot.blockkit import user as mention
from bot.messages import typed

LATE_AFTER_S = 60.0


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def checklist_heading(incident_id: str, title: str, late_by: float) -> Plain:
    """Plain text: the checklist's header block."""
    return f"📋 {incident_id} checklist: {title}"


def late(late_by: float) -> str:
    return f"⏱ Posted {_span(late_by)} late: Fireline was not running at its time."


def checklist_fallback(incident_id: str, title: str, answered: int, total: int) -> str:
    return f"📋 {escape(incident_id)} checklist: {escape(title)} ({answered}/{total} answered)"


def overdue_heading(commander: str | None, count: int) -> str:
    who = f"{mention(commander)}, " if commander else ""
    items = "item is" if count == 1 else "items are"
    return f"⚠️ {who}{count} {items} still open from earlier checklists:"


def checklist_answered(incident_id: str, title: str, item: str, kind: str, user: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return f"Checklist ({escape(title)}): “{escape(item)}” marked {what} by {mention(user)}"


def checklist_already_answered(item: str, kind: str, user: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return (
        f"“{escape(item)}” was already marked {what} by {mention(user)}; your click changed "
        "nothing."
    )


def checklist_thanks(item: str, kind: str) -> str:
    what = "done" if kind == "done" else "not applicable"
    return f"Recorded: “{escape(item)}” is {what}."


def checklist_unknown() -> str:
    return "That checklist is not one Fireline posted; nothing was recorded."


def ack_reminder(incident_id: str, severity: str, commander: str | None, late_s: float) -> str:
    who = f"{mention(commander)}, " if commander else ""
    return (
        f"⏰ {who}{escape(incident_id)} ({escape(severity)}) has not been acknowledged yet. "
        "Acknowledge it (button below or `/incident ack`), or it is escalated to on-call."
    )


def escalation(incident_id: str, severity: str, group: str | None, waited_s: float) -> str:
    page = f"{usergroup(group)} " if group else ""
    missing = (
        ""
        if group
        else f" (no on-call group is set for {escape(severity)}: FIRELINE_ONCALL_GROUPS)"
    )
    return (
        f"🚨 {page}{escape(incident_id)} ({escape(severity)}) is escalated: not acknowledged "
        f"{_span(waited_s)} after it was declared{missing}. {typed(f'ack {incident_id}')}."
    )


def escalation_broadcast(incident_id: str, severity: str, channel: str | None) -> str:
    where = f" in {link_channel(channel)}" if channel else ""
    return (
        f"🚨 {escape(incident_id)} ({escape(severity)}) was escalated to on-call: not "
        f"acknowledged{where}."
    )


def update_reminder(incident_id: str, commander: str | None, silent_s: float) -> str:
    who = f"{mention(commander)}, " if commander else ""
    return (
        f"📣 {who}no status update on {escape(incident_id)} for {_span(silent_s)}. Post one with "
        f"`/incident update &lt;what changed, what is next&gt;`."
    )


def snoozed(incident_id: str, user: str, choice: str) -> str:
    span = {"30m": "for 30 min", "1h": "for 1 h", "resolved": "until it is resolved"}[choice]
    return f"😴 Update reminders for {escape(incident_id)} snoozed {span} by {mention(user)}."


def undeliverable(what: str, code: str, channel: str | None) -> str:
    where = f" in {link_channel(channel)}" if channel else ""
    reason = {
        "is_archived": "the channel is archived",
        "not_in_channel": "Fireline was removed from the channel",
        "channel_not_found": "the channel no longer exists or Fireline cannot see it",
        "invalid_auth": "Fireline's Slack token is no longer valid",
        "token_revoked": "Fireline's Slack token was revoked",
        "account_inactive": "Fireline's Slack app was deactivated",
    }.get(code, f"Slack refused it ({escape(code)})")
    return f"⚠️ {escape(what)} could not be posted{where}: {reason}. It will not be retried."


def job_gave_up(what: str, attempts: int, reason: str, channel: str | None) -> str:
    """A scheduled job failed `attempts` times in a row for a reason that usually passes (Slack
    or Redis not answering); `reason` is the last error's text, written for people."""
    where = f" in {link_channel(channel)}" if channel else ""
    tries = "once" if attempts == 1 else f"{attempts} times in a row"
    return (
        f"⚠️ {escape(what)} could not be posted{where}: it failed {tries} "
        f"(last: {escape(reason)}). It will not be retried."
    )


def job_failed(what: str, ref: str, channel: str | None) -> str:
    """A scheduled job stopped on an error nobody planned for; the log has it under `ref`."""
    where = f" in {link_channel(channel)}" if channel else ""
    return (
        f"⚠️ {escape(what)} could not be posted{where}: an unexpected error stopped it "
        f"(logged as `{escape(ref)}`). It will not be retried."
    )
