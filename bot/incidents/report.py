"""The post-incident report, as Markdown, in the structure responders already use.

Known parts are filled from the incident; the parts only people can write (root cause, impact,
lessons) are left as headed prompts, so the report is a starting point, never a pretence.

The report is a Markdown file, not mrkdwn: nothing in it pings anyone, so what people typed is
shown as they typed it (timeline entries, which are mrkdwn, are turned back into the words Slack
showed), with the characters a Markdown viewer would act on (`<` for HTML, `[…]` for links, `&`
for entities, `\\`, a backtick) escaped with a backslash (docs/decisions/slack-text.md).

Code spans Slack showed (a log template in a finding, a command someone typed in backticks) stay
code spans, and are never escaped: Markdown shows a code span's text as it is, so a backslash
there would be read as one. Their fence is a backtick run longer than any in the text
(CommonMark), since a code span has no other way to hold a backtick.
"""

from __future__ import annotations

import re
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
        return markdown_shown(shown(mrkdwn, dict(names)))

    def typed(text: str, one_line: bool = True) -> str:
        return markdown_shown(text, one_line=one_line)

    def said(text: str, one_line: bool = True) -> str:
        """Typed text that may hold mentions (`bot.blockkit.from_slack`): people by name."""
        return markdown_shown(shown(with_mentions(text), dict(names)), one_line=one_line)

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
        title = markdown_shown(checklist.spec.title)
        lines.append(f"### {title} (+{checklist.spec.minutes} min{late})")
        lines.append("")
        for number, item in enumerate(checklist.spec.items, 1):
            text = markdown_shown(item)
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


_MARKDOWN_ACTIVE = str.maketrans({c: "\\" + c for c in "\\<>[]&`"})
# Code as Slack reads it in mrkdwn (and the sandbox page): a block between triple backticks,
# or a span between single backticks, on one line, with no backtick in it.
_SLACK_CODE = re.compile(r"```(?P<block>.*?)```|`(?P<span>[^`\n]+)`", re.DOTALL)
_BACKTICKS = re.compile(r"`+")


def markdown_text(text: str, *, one_line: bool = True) -> str:
    """Text shown as it is in Markdown: the characters that would make HTML, a link, an entity
    or code backslash-escaped; `one_line` keeps it inside the list item or heading it is in."""
    escaped = text.translate(_MARKDOWN_ACTIVE)
    return " ".join(escaped.splitlines()) if one_line else escaped


def markdown_shown(text: str, *, one_line: bool = True) -> str:
    """Text as Slack showed it, in Markdown: its code spans and blocks as code (their text as it
    is), everything else as `markdown_text`."""
    out: list[str] = []
    last = 0
    for match in _SLACK_CODE.finditer(text):
        block, span = match.group("block"), match.group("span")
        code = span if span is not None else block.strip("\n")
        if not code.strip():
            continue  # Slack shows no code there either: the backticks stay text
        out.append(markdown_text(text[last : match.start()], one_line=one_line))
        if span is None and "\n" in code and not one_line:
            out.append(code_block(code))
        else:
            out.append(code_span(" ".join(code.splitlines())))
        last = match.end()
    out.append(markdown_text(text[last:], one_line=one_line))
    return "".join(out)


def _fence(text: str, shortest: int) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(shortest, longest + 1)


def code_span(text: str) -> str:
    """`text` as an inline code span that Markdown shows exactly: fenced by more backticks than
    any run in it, and padded with a space where CommonMark would otherwise take a backtick at
    an end for the fence, or strip a space from each end."""
    fence = _fence(text, 1)
    edge = text[:1] == "`" or text[-1:] == "`"
    spaced = text[:1] == " " and text[-1:] == " " and text.strip(" ") != ""
    pad = " " if edge or spaced else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str) -> str:
    """`text` as a fenced code block, on lines of its own, shown exactly."""
    fence = _fence(text, 3)
    return f"\n{fence}\n{text}\n{fence}\n"


def filename(incident: Incident) -> str:
    return f"{incident.id.lower()}-post-incident-report.md"
