"""What the handlers feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import Mrkdwn, code


def attempted(text: str) -> Mrkdwn:
    """What a person typed after `/incident`, named by its first word: `/incident ack`."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    return code(f"/incident {word}".strip())


def alert_already_acknowledged() -> str:
    return "Someone acknowledged these alerts already; the alert message shows who."


def failed(what: Mrkdwn) -> str:
    return (
        f"⚠️ {what} did not happen: Fireline could not reach Slack or Redis. Try again in a minute."
    )


def not_confirmed(what: Mrkdwn) -> str:
    return (
        f"⚠️ Fireline lost Redis's answer during {what}, so it cannot tell whether it took "
        "effect. Look at the incident channel (or `/incident status`) before typing it again."
    )


def slack_refused(what: Mrkdwn, reason: str) -> str:
    return f"⚠️ {what} did not happen: Slack refused it ({code(reason)})."


def modal_title_missing() -> str:
    return "Give the incident a short title: what is broken, for whom."


def deny_reason_missing() -> str:
    return "Say why it is denied: the requester reads this."
