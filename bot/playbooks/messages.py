"""What the playbooks feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import Mrkdwn, Plain, code, counted, escape
from bot.blockkit import user as mention

PLAYBOOK_USAGE = "/incident playbook [name] [target] [-n namespace]"


def no_such_playbook(name: str, close: list[str]) -> str:
    hint = " Did you mean " + " or ".join(code(c) for c in close) + "?" if close else ""
    return f"No playbook {code(name)}.{hint} `/incident playbook` lists them."


def playbook_running(title: str, where: Mrkdwn) -> str:
    return f"Running the *{escape(title)}* playbook{where} … results follow in a thread."


def playbook_step_needs(action: str, field: str, labels: list[str]) -> str:
    wanted = " or ".join(code(label) for label in labels)
    return (
        f"{code(action)} not run: it needs {escape(field)}, from the label {wanted}, which is "
        "not set."
    )


def playbook_step_failed(action: str, reason: Mrkdwn) -> str:
    """`reason`: what the person was told (a sentence of ours, escaped already)."""
    return f"{code(action)}: {reason}"


def playbook_cannot_post(error: str) -> str:
    return (
        f"Fireline cannot post the playbook in this channel ({escape(error)}). Invite it with "
        "`/invite @Fireline`, or run the playbook in an incident channel."
    )


def playbook_left_out(count: int, user: str | None) -> str:
    whom = f" — details sent to {mention(user)}" if user else ""
    return f"⚠️ {counted(count, 'diagnostic')} not shown{whom}."


def offer_left_out(button: str, reason: str) -> Plain:
    """Plain: escaped where the guidance is rendered."""
    return f"{button} ({reason})"


def offer_not_checked(button: str, why: str) -> Plain:
    """Plain: escaped where the guidance is rendered."""
    reason = f": {why}" if why else ""
    return f"{button} (its preconditions could not be checked without a diagnosis{reason})"


def no_deployment_to_diagnose() -> Plain:
    """Plain: part of a reason, escaped where the guidance is rendered."""
    return "the alert names no deployment"


def diagnosis_not_run(outcome: str) -> Plain:
    """Plain: part of a reason, escaped where the guidance is rendered."""
    return f"`diagnose` was {outcome}"
