"""Sizing text for one Slack section before `bot.actions.output.fit` sees it.

`fit()` moves a section longer than `MAX_SECTION` into the details file and shows its start. For
a log's tail the start is the wrong end, and the file would be a second one beside the log
file; so a tail is cut here, keeping its newest lines, to what fits whole. Lengths are counted
as Slack will see them: `&`, `<` and `>` are escaped on the way (`&amp;`, `&lt;`, `&gt;`), and a
log line's `<n>` placeholders are many.
"""

from __future__ import annotations

from bot.actions.output import MAX_SECTION

SECTION_BUDGET = MAX_SECTION - 200
"""What a section's text may take: room left for its title and the code fences."""


def slack_length(text: str) -> int:
    """Characters once escaped for mrkdwn."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def newest_that_fit(lines: list[str], most: int, budget: int = SECTION_BUDGET) -> list[str]:
    """The last lines (at most `most`) whose text, joined, fits in `budget`; a single line too
    long by itself is shortened from its start, so the newest line is always shown."""
    shown: list[str] = []
    used = 0
    for line in reversed(lines[-most:]):
        cost = slack_length(line) + 1
        if used + cost > budget:
            if not shown:
                shown.append("…" + line[-(budget // 5) :])
            break
        shown.append(line)
        used += cost
    return shown[::-1]
