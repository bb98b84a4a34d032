"""What the diagnostics feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import Plain, code, counted, escape
from bot.blockkit import user as mention


def diagnose_part_not_allowed(action: str) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return f"{action}: not included (your roles do not allow `{action}`)"


def nothing_wrong(checked: list[str]) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return "Nothing wrong found — checked: " + "; ".join(checked) + "."


def cause_above(confidence: str) -> Plain:
    """Plain: the first of `diagnose`'s findings, whose line is the answer's first line."""
    return f"The cause above ({confidence} confidence)"


def diagnose_checked(checked: list[str]) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return "_Checked: " + "; ".join(checked) + "._"


def not_offered(verdicts: list[tuple[str, str]]) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return "Not offered: " + "; ".join(f"`{action}` — {why}" for action, why in verdicts) + "."


def diagnose_query_not_reached(query: str) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return f"query: not included (your roles do not reach query `{query}`)"


def rate_limited(limit: int, retry_after: float) -> str:
    return (
        f"⏳ You ran {counted(limit, 'action')} in the last minute, the most the policy allows. "
        f"Try again in {max(1, round(retry_after))} s."
    )


def not_configured(what: str) -> str:
    return f"{escape(what)} is not configured in the Fireline policy; an admin can add it."


def running(action: str, what: str) -> str:
    """`what`: the arguments as typed; empty, none were (not "on `the defaults`", which read
    as an argument named so)."""
    return f"Running {code(action)} on {code(what)} …" if what else f"Running {code(action)} …"


def action_timed_out(action: str, seconds: float) -> Plain:
    """Plain: the reason given to `bot.messages.action_failed`."""
    return f"`{action}` did not finish within {seconds:g} s"


def internal_error() -> Plain:
    return "Fireline hit an internal error (it is in the bot's log); try another diagnostic"


def posted_here_only(reason: str) -> str:
    return f"(Shown only to you: Fireline could not post in this channel — {escape(reason)}.)"


def no_log_lines(grep: str | None) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return f"No lines match `{grep}`." if grep else "No log lines in that window."


_GREP_INSTEAD = {
    "backreference": "refers back to a group (`\\1`, `(?P=name)`), which the log search cannot "
    "do (it runs in linear time); write the repeated text out, e.g. `--grep 'retry.*retry'`",
    "lookaround": "uses a lookahead or lookbehind (`(?=…)`, `(?<!…)`), which the log search "
    "cannot do; match the text itself, e.g. `--grep 'timeout [^0]'`",
    "possessive": "uses a possessive or atomic group (`++`, `(?>…)`), which the log search "
    "needs no help with; drop it, e.g. `--grep 'a+'`",
    "unbalanced": "has an unmatched bracket; put `\\` before a literal `(`, `)` or `[`, "
    "e.g. `--grep 'call\\(42\\)'`",
    "repetition": "repeats more than 1000 times; use `+` or `*`, e.g. `--grep 'x+'`",
    "end-anchor": "uses `\\Z`; use `$` for the end of the line, e.g. `--grep 'done$'`",
    "too-large": "is too large to run; use a shorter pattern, e.g. `--grep 'error|fatal'`",
}


def bad_grep(kind: str, detail: str) -> Plain:
    """Why a `--grep` pattern was refused and what to type instead (a ValueError's text).
    Plain: `bot.actions.messages.bad_argument` escapes it."""
    instead = _GREP_INSTEAD.get(kind)
    if instead:
        return instead
    return f"is not a pattern the log search understands ({detail}); e.g. `--grep 'error|fatal'`"


def timeline_action(user: str, action: str, target: str, outcome: str, headline: str) -> str:
    """`headline`: the result's first line (plain, as the action wrote it)."""
    return f"{mention(user)} ran {code(action)} on {escape(target)}: {escape(outcome)}" + (
        f" — {escape(headline)}" if headline else ""
    )


def events_of_parent(pod: str, deployment: str) -> Plain:
    """Plain: a diagnostic's result, escaped when it is fitted into Slack."""
    return (
        f"No events about `{pod}` (it may have been replaced); these are the events of "
        f"deployment `{deployment}`, which it belonged to."
    )
