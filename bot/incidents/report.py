"""The post-incident report, as Markdown, in the structure responders already use.

Known parts are filled from the incident; the parts only people can write (root cause, impact,
lessons) are left as headed prompts, so the report is a starting point, never a pretence.

The report is a Markdown file, not mrkdwn: nothing in it pings anyone, so what people typed is
shown as they typed it (timeline entries, which are mrkdwn, are turned back into the words Slack
showed), with the characters a Markdown viewer would act on (`<` for HTML, `[…]` for links, `&`
for entities, `\\`) escaped with a backslash (docs/decisions/slack-text.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from bot.blockkit import human_duration, shown, with_mentions
from bot.checklists.models import PostedChecklist
from bot.incident import Incident, Role, TimelineEntry

PROMPT = "_To be written: {what}_"


def render(
    incident: Incident,
    entries: list[TimelineEntry],
    now: datetime,
    names: Mapping[str, str],
    *,
    checklists: Sequence[PostedChecklist] = (),
) -> str:
    """`names` maps Slack user IDs to display names; unknown IDs are shown as they are."""

    def who(user: str | None) -> str:
        return markdown_text(names.get(user, user)) if user else "—"

    def plain(mrkdwn: str) -> str:
        return markdown_text(shown(mrkdwn, dict(names)))

    def typed(text: str, one_line: bool = True) -> str:
        return markdown_text(text, one_line=one_line)

    def said(text: str, one_line: bool = True) -> str:
        """Typed text that may hold mentions (`bot.blockkit.from_slack`): people by name."""
        return markdown_text(shown(with_mentions(text), dict(names)), one_line=one_line)

    status = "resolved" if not incident.is_open else f"{incident.status.value} (still open)"
    ended = incident.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if incident.resolved_at else "—"
    lines = [
        f"# Post-incident report: {incident.id} — {typed(incident.title)}",
        "",
        f"- **Date:** {incident.created_at.strftime('%Y-%m-%d')}",
        f"- **Started:** {incident.created_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **Ended:** {ended}",
        f"- **Duration:** {human_duration(incident.duration(now))}",
        f"- **Severity:** {incident.severity.value} ({incident.severity.meaning})",
        f"- **Status:** {status}",
        f"- **Services affected:** "
        f"{typed(incident.service) if incident.service else PROMPT.format(what='which services')}",
        f"- **Commander:** {who(incident.roles.get(Role.COMMANDER))}",
        f"- **Comms:** {who(incident.roles.get(Role.COMMS))}",
        f"- **Scribe:** {who(incident.roles.get(Role.SCRIBE))}",
        f"- **Reported by:** {who(incident.reporter)}",
        "",
        "## Summary",
        "",
        said(incident.summary or incident.description or "", one_line=False)
        or PROMPT.format(what="two sentences a newcomer would understand"),
        "",
        "## Timeline (UTC)",
        "",
    ]
    lines += [f"- {e.at.strftime('%Y-%m-%d %H:%M:%S')} — {plain(e.text)}" for e in entries]
    lines += _checklists(checklists, who)
    lines += [
        "",
        "## Root cause",
        "",
        PROMPT.format(what="what failed, and why it was possible"),
        "",
        "## Impact",
        "",
        PROMPT.format(what="who was affected, how many, for how long"),
        "",
        "## Resolution",
        "",
        said(incident.summary, one_line=False)
        if incident.summary
        else PROMPT.format(what="what ended the impact"),
        "",
        "## Action items",
        "",
    ]
    lines += [f"- [ ] {said(item)}" for item in incident.followups] or [
        PROMPT.format(what="follow-ups (`/incident followup <text>` collects them)")
    ]
    lines += ["", "## Lessons learned", "", PROMPT.format(what="what went well, what did not"), ""]
    return "\n".join(lines)


def _checklists(
    checklists: Sequence[PostedChecklist], who: Callable[[str | None], str]
) -> list[str]:
    if not checklists:
        return []
    lines = ["", "## Quick-response checklists", ""]
    for checklist in checklists:
        minutes_late = int(checklist.late_by // 60)
        late = f", posted {minutes_late} min late" if minutes_late else ""
        title = markdown_text(checklist.spec.title)
        lines.append(f"### {title} (+{checklist.spec.minutes} min{late})")
        lines.append("")
        for number, item in enumerate(checklist.spec.items, 1):
            text = markdown_text(item)
            answer = checklist.answers.get(number)
            if answer is None:
                lines.append(f"- [ ] {text} — not answered")
                continue
            mark = "x" if answer.kind == "done" else "-"
            what = "done" if answer.kind == "done" else "not applicable"
            at = answer.at.strftime("%H:%M UTC")
            lines.append(f"- [{mark}] {text} — {what}, {who(answer.user)} at {at}")
        lines.append("")
    return lines[:-1]


_MARKDOWN_ACTIVE = str.maketrans({c: "\\" + c for c in "\\<>[]&"})


def markdown_text(text: str, *, one_line: bool = True) -> str:
    """Text shown as it is in Markdown: the characters that would make HTML, a link or an
    entity backslash-escaped; `one_line` keeps it inside the list item or heading it is in."""
    escaped = text.translate(_MARKDOWN_ACTIVE)
    return " ".join(escaped.splitlines()) if one_line else escaped


def filename(incident: Incident) -> str:
    return f"{incident.id.lower()}-post-incident-report.md"
