"""Sentences more than one feature says: usage and flag errors, delivery and failure notices.

Each feature keeps its own sentences in its package's `messages` module (bolt keeps its own
this way: small functions). Written for someone woken at 3 a.m.: what happened first, then
exactly what to type. Nothing here may include a token or secret.

Every sentence is mrkdwn: what it echoes (words a person typed, names, reasons from a remote) is
escaped through `bot.blockkit`, and a command to type is shown with `typed()`, so a usage like
`diagnose <deployment>` reads as written (docs/decisions/slack-text.md). Parameters are plain
text unless typed `Mrkdwn`.
"""

from __future__ import annotations

from bot.blockkit import Mrkdwn, Plain, code, counted, escape

ECHO_MOST = 60
"""The most of what a person typed that an answer shows back (a 1 MB word is cut, not echoed)."""


def echo(text: str, most: int = ECHO_MOST) -> Plain:
    """Plain: what a person typed, as an answer shows it back, cut to `most` characters."""
    return text if len(text) <= most else text[: most - 1] + "…"


def typed(command: str) -> Mrkdwn:
    """`/incident <command>` as code, escaped: what to type."""
    return code(f"/incident {command}")


def unexpected_arguments(usage_text: str, rest: str) -> str:
    return f"{code(echo(rest))} was not expected here. Type {typed(usage_text)}."


def not_an_incident_channel_for_click() -> str:
    return (
        "That button belongs to an incident Fireline no longer knows about. "
        "`/incident list` shows the open ones."
    )


def declare_incomplete(incident_id: str, what: str) -> str:
    return (
        f"{escape(incident_id)} is recorded, but {escape(what)}. Fireline keeps trying; "
        f"{typed(f'status {incident_id}')} shows where it stands."
    )


def delivered_twice() -> str:
    return "Already done: Slack delivered that command twice, so it ran once."


def _either(roles: tuple[str, ...] | list[str], none: str) -> Mrkdwn:
    """Roles any of which would do, escaped, as a sentence lists them: `responder, commander or
    admin` (not `responder or commander or admin`); `none` when there are none."""
    names = [escape(r) for r in roles]
    if not names:
        return escape(none)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _roles(roles: list[str]) -> str:
    return escape(", ".join(roles)) if roles else "none"


def denied_namespace_cluster(namespace: str, cluster: str, allowed: tuple[str, ...]) -> str:
    return (
        f"🚫 Namespace {code(namespace)} is not open to Fireline in cluster {code(cluster)} "
        f"(allowed: {escape(', '.join(allowed))}). Use `-n` with one of those."
    )


SHOWN_NAMES = 6
"""Names listed when a name matches none closely enough to suggest."""


def no_such_object(
    kind: str, name: str, namespace: str, close: list[str], known: list[str] | None = None
) -> str:
    """What to type instead: the close names, else what the namespace has (`known`)."""
    head = f"No {escape(kind)} {code(name)} in {code(namespace)}"
    if close:
        return head + "; did you mean " + " or ".join(code(c) for c in close) + "?"
    if known is None:
        return head + "."
    if not known:
        return head + ": it has none."
    names = sorted(set(known))
    more = f" (and {len(names) - SHOWN_NAMES} more)" if len(names) > SHOWN_NAMES else ""
    return f"{head}. It has {', '.join(code(n) for n in names[:SHOWN_NAMES])}{more}."


def no_such_named(kind: str, name: str, known: list[str], close: list[str]) -> str:
    if not known:
        return (
            f"No {escape(kind)} is configured in the Fireline policy, so {code(name)} cannot be "
            "run."
        )
    hint = " Did you mean " + " or ".join(code(c) for c in close) + "?" if close else ""
    return f"No {escape(kind)} {code(name)}.{hint} Configured: {', '.join(code(k) for k in known)}."


# shlex's words for what went wrong, in a responder's.
_QUOTING = {
    "No closing quotation": "a quote is opened and never closed",
    "No escaped character": "a \\ ends the text",
}


def bad_quoting(problem: str, usage_text: str) -> str:
    said = _QUOTING.get(problem, problem)
    return f"Those arguments do not parse: {escape(said)}. Type {typed(usage_text)}."


def unknown_flag(flag: str, usage_text: str) -> str:
    return f"{code(echo(flag))} is not an option here. Type {typed(usage_text)}."


def flag_needs_value(flag: str, usage_text: str) -> str:
    return f"{code(flag)} needs a value after it. Type {typed(usage_text)}."


def action_failed(action: str, reason: str) -> str:
    """`reason` is plain: an error's words (a remote's, or a sentence of ours without `<>&`)."""
    return f"⚠️ {code(action)} could not run: {escape(reason)}"


def playbook_problems(count: int, details: list[Mrkdwn]) -> str:
    were = "was" if count == 1 else "were"
    return f"{counted(count, 'playbook diagnostic')} {were} not shown:\n" + "\n".join(
        f"• {d}" for d in details
    )
