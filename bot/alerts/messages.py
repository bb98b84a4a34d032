"""What the alerts feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot import messages as shared
from bot.blockkit import Mrkdwn, channel, code, escape
from bot.blockkit import user as mention


def alert_playbook_started(title: str, role: str) -> str:
    return (
        f"📘 Playbook *{escape(title)}*: running its diagnostics (as the alert pipeline, "
        f"role {code(role)})."
    )


def alert_playbook_run_by(title: str, user: str) -> str:
    return f"📘 {mention(user)} ran the *{escape(title)}* playbook."


def alert_no_playbook() -> str:
    return "No playbook matches these alerts. `/incident playbook` lists them all."


def alert_group_unknown() -> str:
    return (
        "Fireline no longer knows that alert group; nothing was done. If it still needs an "
        "incident, type `/incident declare &lt;title&gt;`."
    )


def silence_not_configured() -> str:
    return (
        "Silences are not configured: set FIRELINE_ALERTMANAGER_URL to Alertmanager's address, "
        "then click again."
    )


def silence_denied(held: list[str], allowing: tuple[str, ...], holders: Mrkdwn = "") -> str:
    have = escape(", ".join(held) or "no role")
    need = shared._either(allowing, "a role the policy does not define")
    by = f" Held by {holders}." if holders else ""
    return (
        f"🚫 Silencing alerts needs the role {need}; you have {have}.{by} Nothing was silenced "
        "(the policy's `alerts.silence_roles` decides)."
    )


def silence_exists(user: str, until: Mrkdwn) -> str:
    return f"These alerts are already silenced by {mention(user)} until {until}."


def silence_recorded(user: str, until: Mrkdwn, silence_id: str, matchers: Mapping[str, str]) -> str:
    shown = " ".join(code(f"{k}={v}") for k, v in sorted(matchers.items()))
    return (
        f"🔕 {mention(user)} silenced these alerts until {until} (Alertmanager silence "
        f"{code(silence_id)}, matching {shown})."
    )


def silence_no_matchers() -> str:
    return "These alerts share no labels, so a silence would match everything; nothing was done."


def silence_failed(reason: str) -> str:
    return f"The silence was not created: {escape(reason)}. Try again, or silence in Alertmanager."


def incident_declared(incident_id: str, channel_id: str | None) -> str:
    where = f" in {channel(channel_id)}" if channel_id else ""
    return f"🚨 {escape(incident_id)} declared{where}."


def acknowledged(user: str) -> str:
    return f"👀 {mention(user)} acknowledged these alerts."


def _alertname(name: str) -> str:
    """The policy's alert name inside code marks (it is the operator's text, kept literal)."""
    return code(name)


def heartbeat_missing(alertname: str, silent_for: str) -> str:
    return (
        f"🔕 The alert pipeline may be broken: Alertmanager's always-firing "
        f"{_alertname(alertname)} alert has not reached Fireline for {escape(silent_for)}. "
        "Alerts may not be arriving either. Check that Prometheus and Alertmanager are up and that "
        "Alertmanager's route to Fireline's webhook works (its logs, `amtool`). Fireline says "
        "so here when it arrives again."
    )


def heartbeat_back(alertname: str, silent_for: str) -> str:
    return (
        f"✅ Alertmanager's {_alertname(alertname)} alert is reaching Fireline again, after "
        f"{escape(silent_for)} without it: the alert pipeline works. Alerts that fired meanwhile "
        "follow as Alertmanager sends them."
    )
