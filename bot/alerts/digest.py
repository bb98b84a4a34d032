"""The storm digest: one message per storm listing every new alert group, edited in place."""

from __future__ import annotations

from bot.alerts.store import AlertGroup
from bot.alerts.views import SEVERITY_EMOJI, headline
from bot.blockkit import Block, context, escape, section

SECTION_CHARS = 2900  # a section's text may hold 3,000
MAX_SECTIONS = 45  # a message may hold 50 blocks

STORM_ON = (
    "🌩️ *Alert storm: this channel is in storm mode.* Alerts are arriving faster than Slack "
    "lets Fireline post (about one message a second), so every new group is listed here first; "
    "its own thread follows as Slack allows. Nothing is dropped."
)
STORM_OVER = "✅ *Alert storm over.* Every group below has, or is about to get, its own thread."


def line(group: AlertGroup, posted: bool) -> str:
    emoji = SEVERITY_EMOJI.get(group.severity, "⚪")
    summary = f" — {escape(group.summary)}" if group.summary else ""
    where = "🧵 thread posted" if posted else "⏳ thread queued"
    counts = f"{len(group.firing)} firing · {len(group.resolved)} resolved"
    return f"{emoji} *{headline(group)}*{summary} · {counts} · {where}"


def digest(groups: list[tuple[AlertGroup, bool]], *, storm_on: bool) -> tuple[str, list[Block]]:
    """(fallback text, blocks) for a storm's digest; `groups` in arrival order, with posted."""
    posted = sum(1 for _, p in groups if p)
    banner = STORM_ON if storm_on else STORM_OVER
    text = f"Alert storm: {len(groups)} alert groups, {posted} with their own thread so far"
    body: list[Block] = [section(banner)]
    chunk: list[str] = []
    size = 0
    shown = 0
    for group, was_posted in groups:
        entry = line(group, was_posted)[:SECTION_CHARS]
        if size + len(entry) + 1 > SECTION_CHARS:
            if len(body) >= MAX_SECTIONS:
                break
            body.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
        shown += 1
    if chunk and len(body) < MAX_SECTIONS:
        body.append(section("\n".join(chunk)))
    else:
        shown -= len(chunk)
    footer = f"{len(groups)} groups · {posted} threads posted"
    if shown < len(groups):
        footer += f" · {len(groups) - shown} more not listed here (their threads follow)"
    body.append(context(footer))
    return text, body
