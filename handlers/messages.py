"""What the handlers feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations


def alert_already_acknowledged() -> str:
    return "Someone acknowledged these alerts already; the alert message shows who."


def failed(what: str) -> str:
    return (
        f"⚠️ {what} did not happen: Fireline could not reach Slack or Redis. Try again in a minute."
    )


def slack_refused(what: str, code: str) -> str:
    return f"⚠️ {what} did not happen: Slack refused it (`{code}`)."


def modal_title_missing() -> str:
    return "Give the incident a short title: what is broken, for whom."


def deny_reason_missing() -> str:
    return "Say why it is denied: the requester reads this."
