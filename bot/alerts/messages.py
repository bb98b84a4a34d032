"""What the alerts feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations


def alert_playbook_started(title: str, role: str) -> str:
    return f"📘 Playbook *{title}*: running its diagnostics (as the alert pipeline, role `{role}`)."


def alert_playbook_run_by(title: str, user: str) -> str:
    return f"📘 <@{user}> ran the *{title}* playbook."


def alert_no_playbook() -> str:
    return "No playbook matches these alerts. `/incident playbook` lists them all."


def alert_group_unknown() -> str:
    return "Fireline no longer knows that alert group; nothing was done."


def silence_not_configured() -> str:
    return (
        "Silences are not configured: set FIRELINE_ALERTMANAGER_URL to Alertmanager's address, "
        "then click again."
    )


def silence_denied(held: list[str], allowing: tuple[str, ...], holders: str = "") -> str:
    have = ", ".join(held) or "no role"
    need = " or ".join(allowing) or "a role the policy does not define"
    by = f" Held by {holders}." if holders else ""
    return (
        f"🚫 Silencing alerts needs the role {need}; you have {have}.{by} Nothing was silenced "
        "(the policy's `alerts.silence_roles` decides)."
    )


def silence_exists(user: str, until: str) -> str:
    return f"These alerts are already silenced by <@{user}> until {until}."


def silence_recorded(user: str, until: str, silence_id: str, matchers: str) -> str:
    return (
        f"🔕 <@{user}> silenced these alerts until {until} (Alertmanager silence "
        f"`{silence_id}`, matching {matchers})."
    )


def silence_no_matchers() -> str:
    return "These alerts share no labels, so a silence would match everything; nothing was done."


def silence_failed(reason: str) -> str:
    return f"The silence was not created: {reason}. Try again, or silence in Alertmanager."
