"""Sentences more than one feature says: usage and flag errors, delivery and failure notices.

Each feature keeps its own sentences in its package's `messages` module (bolt keeps its own
this way: small functions). Written for someone woken at 3 a.m.: what happened first, then
exactly what to type. Nothing here may include a token or secret.
"""

from __future__ import annotations


def unexpected_arguments(usage_text: str, rest: str) -> str:
    return f"`{rest}` was not expected here. Type `/incident {usage_text}`."


def not_an_incident_channel_for_click() -> str:
    return "That button belongs to an incident Fireline no longer knows about."


def declare_incomplete(incident_id: str, what: str) -> str:
    return (
        f"{incident_id} is recorded, but {what}. Fireline keeps trying; "
        f"`/incident status {incident_id}` shows where it stands."
    )


def delivered_twice() -> str:
    return "Already done: Slack delivered that command twice, so it ran once."


def _roles(roles: list[str]) -> str:
    return ", ".join(roles) if roles else "none"


def denied_namespace_cluster(namespace: str, cluster: str, allowed: tuple[str, ...]) -> str:
    return (
        f"🚫 Namespace `{namespace}` is not open to Fireline in cluster `{cluster}` "
        f"(allowed: {', '.join(allowed)}). Use `-n` with one of those."
    )


def no_such_object(kind: str, name: str, namespace: str, close: list[str]) -> str:
    hint = "; did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else "."
    return f"No {kind} `{name}` in `{namespace}`{hint}"


def no_such_named(kind: str, name: str, known: list[str], close: list[str]) -> str:
    if not known:
        return f"No {kind} is configured in the Fireline policy, so `{name}` cannot be run."
    hint = " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else ""
    return f"No {kind} `{name}`.{hint} Configured: {', '.join(f'`{k}`' for k in known)}."


def bad_quoting(problem: str, usage_text: str) -> str:
    return f"Those arguments do not parse ({problem}). Type `/incident {usage_text}`."


def unknown_flag(flag: str, usage_text: str) -> str:
    return f"`{flag}` is not an option here. Type `/incident {usage_text}`."


def flag_needs_value(flag: str, usage_text: str) -> str:
    return f"`{flag}` needs a value after it. Type `/incident {usage_text}`."


def action_failed(action: str, reason: str) -> str:
    return f"⚠️ `{action}` could not run: {reason}"


def playbook_problems(count: int, details: list[str]) -> str:
    return f"{count} playbook diagnostic(s) were not shown:\n" + "\n".join(
        f"• {d}" for d in details
    )
