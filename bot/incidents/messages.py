"""What the incidents feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import channel, escape
from bot.blockkit import user as mention
from bot.messages import typed


def needs_incident(usage_text: str) -> str:
    """`usage_text` with the ID after its subcommand, as it is typed outside an incident's
    channel: `/incident severity INC-42 <P0|P1|P2|P3>`."""
    name, _, rest = usage_text.partition(" ")
    return (
        "This is not an incident channel, so say which incident: "
        f"{typed(f'{name} INC-42 {rest}'.rstrip())}. `/incident list` shows the open ones."
    )


def severity_raised(
    incident_id: str,
    title: str,
    old: str,
    new: str,
    meaning: str,
    actor: str,
    channel_id: str | None = None,
) -> str:
    """Said in the incident's channel and (with `channel_id`) in the broadcast channel."""
    where = f" Join {channel(channel_id)}." if channel_id else ""
    return (
        f"⬆️ {escape(incident_id)} is now {escape(new)} (was {escape(old)}), raised by "
        f"{mention(actor)}: *{escape(title)}*. {escape(new)}: {escape(meaning)}.{where}"
    )


def no_longer_commander(
    incident_id: str, title: str, commander: str, actor: str, where: str | None
) -> str:
    """A direct message to the commander who was replaced."""
    by = "" if actor == commander else f" (set by {mention(actor)})"
    follow = f" Follow along in {channel(where)}." if where else ""
    return (
        f"👋 You are no longer the commander of {escape(incident_id)} (*{escape(title)}*): "
        f"{mention(commander)} is{by}.{follow}"
    )
