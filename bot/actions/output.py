"""A diagnostic's result, and how it is fitted into what Slack accepts without losing anything.

A `Result` is a headline (the lines that matter, first), sections of detail, files (charts,
full logs) and the parts that failed. `fit()` turns it into at most `MAX_BLOCKS` blocks with
sections of at most `MAX_SECTION` characters; whatever does not fit goes, whole, into a text
file posted in the thread, and the message says so. Nothing is ever cut silently.

Everything in a `Result` has been redacted by the action that made it; this module adds nothing.

A `Result` holds plain text, as Kubernetes, the logs or Prometheus said it (a log line with
`<html>` in it, a label value with `&`), with mrkdwn's `*bold*` and backticks as the only
formatting an action may use. `fit()` is where it becomes mrkdwn: every part is escaped there
(`bot.blockkit.escape`), code sections included, so an action never escapes and never needs to.
The text file that takes what does not fit is plain and keeps the words as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.blockkit import counted, escape

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FALLBACK_TEXT = 3000

Block = dict[str, Any]


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    code: bool = False  # shown as a preformatted block


@dataclass(frozen=True)
class Attachment:
    filename: str
    title: str
    content: bytes | str


@dataclass
class Result:
    title: str
    headline: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "partial" if self.failures else "ok"

    def absorb(self, other: Result) -> None:
        """Fold a sub-result (from `diagnose`) into this one."""
        self.sections.extend(other.sections)
        self.files.extend(other.files)
        self.failures.extend(other.failures)


@dataclass
class Fitted:
    text: str
    blocks: list[Block]
    files: list[Attachment]


def _section_block(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _titled(title: str, body: str) -> str:
    """`body` under its section's title in bold; an untitled section (one table under the
    result's title) is its body alone, not a stray `**` line above it."""
    return f"*{escape(title)}*\n{body}" if title else body


def _body(section: Section) -> str:
    body = f"```{escape(section.text)}```" if section.code else escape(section.text)
    return _titled(section.title, body)


def fit(result: Result, slug: str) -> Fitted:
    """Blocks within Slack's limits; anything longer goes, whole, into `<slug>-details.txt`."""
    plain_top = [result.title, *result.headline]
    if result.failures:
        plain_top.append("⚠️ Partial: " + "; ".join(result.failures))
    top = [f"*{escape(result.title)}*", *(escape(line) for line in plain_top[1:])]
    blocks: list[Block] = []
    overflow: list[Section] = []
    head = "\n".join(top)
    if len(head) > MAX_SECTION:
        overflow.append(Section("Summary", "\n".join(plain_top)))
        head = (
            _cut(head, MAX_SECTION - 60).rsplit("\n", 1)[0] + "\n… (the rest is in the file below)"
        )
    blocks.append(_section_block(head))
    # Keep two blocks spare: a divider and the "see the file" note.
    room = MAX_BLOCKS - 3
    for section in result.sections:
        text = _body(section)
        if len(blocks) >= room:
            overflow.append(section)
            continue
        if len(text) > MAX_SECTION:
            overflow.append(section)
            text = _shorten(section)
        blocks.append(_section_block(text))
    files = list(result.files)
    if overflow:
        name = f"{slug}-details.txt"
        content = "\n\n".join(f"== {s.title or result.title} ==\n{s.text}" for s in overflow)
        files.append(Attachment(name, f"{result.title} — full output", content))
        parts = counted(len(overflow), "part")
        note = f"📎 {parts} did not fit in a message; full text in `{escape(name)}`."
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": note, "verbatim": True}]}
        )
    fallback = _cut("\n".join(top), MAX_FALLBACK_TEXT)
    return Fitted(text=fallback, blocks=blocks, files=files)


def _shorten(section: Section) -> str:
    budget = MAX_SECTION - len(escape(section.title)) - 80
    cut = _cut(escape(section.text), budget).rsplit("\n", 1)[0]
    more = "… cut here; the whole section is in the attached file"
    body = f"```{cut}\n{more}```" if section.code else f"{cut}\n_{more}_"
    return _titled(section.title, body)


def _cut(mrkdwn: str, limit: int) -> str:
    """At most `limit` characters of escaped text, never ending inside an entity (`&am`)."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    head = mrkdwn[:limit]
    amp = head.rfind("&")
    return head[:amp] if amp > head.rfind(";") else head


def table(rows: list[list[str]], header: list[str]) -> str:
    """A fixed-width text table for a code block."""
    all_rows = [header, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in all_rows
    )
