"""What the playbooks feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

PLAYBOOK_USAGE = "/incident playbook [name] [target] [-n namespace]"


def no_such_playbook(name: str, close: list[str]) -> str:
    hint = " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else ""
    return f"No playbook `{name}`.{hint} `/incident playbook` lists them."


def playbook_running(title: str, where: str) -> str:
    return f"Running the *{title}* playbook{where} … results follow in a thread."


def playbook_step_needs(action: str, field: str, labels: list[str]) -> str:
    wanted = " or ".join(f"`{label}`" for label in labels)
    return f"`{action}` not run: it needs {field}, from the label {wanted}, which is not set."


def playbook_step_failed(action: str, reason: str) -> str:
    return f"`{action}`: {reason}"


def playbook_cannot_post(code: str) -> str:
    return (
        f"Fireline cannot post the playbook in this channel ({code}). Invite it with "
        "`/invite @Fireline`, or run the playbook in an incident channel."
    )


def playbook_left_out(count: int, user: str | None) -> str:
    whom = f" — details sent to <@{user}>" if user else ""
    return f"⚠️ {count} diagnostic(s) not shown{whom}."


def offer_left_out(button: str, reason: str) -> str:
    return f"{button} ({reason})"


def offer_not_checked(button: str, why: str) -> str:
    reason = f": {why}" if why else ""
    return f"{button} (its preconditions could not be checked without a diagnosis{reason})"


def no_deployment_to_diagnose() -> str:
    return "the alert names no deployment"


def diagnosis_not_run(outcome: str) -> str:
    return f"`diagnose` was {outcome}"
