"""What the incidents feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.messages import typed


def needs_incident(usage_text: str) -> str:
    return (
        "This is not an incident channel, so say which incident: "
        f"{typed(usage_text.split(' ')[0] + ' INC-42 …')}. `/incident list` shows the open ones."
    )
