"""What the commands feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret. mrkdwn, with what it echoes escaped (`bot.messages`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.blockkit import Mrkdwn, Plain, channel, code, code_block, counted, escape
from bot.messages import echo, typed


class _Usage(Protocol):
    @property
    def usage(self) -> str: ...

    @property
    def summary(self) -> str: ...


HELP_FOOTER = (
    "In an incident channel the ID can be left out; elsewhere put it after the subcommand, "
    "e.g. `/incident ack INC-42`."
)


KUBE_FOOTER = (
    "Kubernetes diagnostics also take `-n &lt;namespace&gt;` and `--cluster &lt;name&gt;` "
    "(the policy's defaults when left out)."
)


def usage(subcommands: Iterable[_Usage], actions: list[tuple[str, str]] | None = None) -> str:
    subcommands = list(subcommands)
    width = max(len(s.usage) for s in subcommands)
    lines = [f"/incident {s.usage.ljust(width)}  {s.summary}" for s in subcommands]
    text = "*Fireline* — `/incident` commands:\n" + code_block("\n".join(lines))
    text += "\n" + HELP_FOOTER
    if actions:
        diag = [f"/incident {u}\n    {h}" for u, h in actions]
        text += "\n*Diagnostics and remediations* (what you may run depends on your role):\n"
        text += code_block("\n".join(diag)) + "\n" + KUBE_FOOTER
    text += f"\n{typed('help <command>')} explains one, e.g. {typed('help diagnose')}."
    return text


def first_clause(help_text: str, most: int = 90) -> Plain:
    """An action's help cut to what it is: up to its first colon or full stop (the list shows
    one line each; `help <command>` the whole)."""
    for end in (": ", ". ", " — "):
        head, found, _ = help_text.partition(end)
        if found and len(head) <= most:
            return head
    return help_text if len(help_text) <= most else help_text[: most - 1].rstrip() + "…"


def one_command(usage_text: str, explained: str) -> str:
    """`/incident help <command>`: how to type it, and what it does, whole."""
    return f"{typed(usage_text)}\n{escape(explained)}"


def unknown_subcommand(word: str, suggestion: str | None) -> str:
    hint = f" Did you mean {typed(suggestion)}?" if suggestion else ""
    return (
        f"{code(echo(word))} is not an `/incident` command.{hint} `/incident help` lists them all."
    )


def id_before_subcommand(word: str) -> str:
    return f"Put the subcommand first and the ID after it, e.g. {typed(f'status {word.upper()}')}."


def missing_title(severity: str) -> str:
    return f"Give the incident a title: {typed(f'declare {severity} <what is broken>')}."


def title_too_long(length: int, limit: int) -> str:
    return (
        f"That title is {counted(length, 'character')} long; keep it to at most {limit}. Put "
        "details in `/incident note` once the incident is declared."
    )


def bad_severity(token: str, usage_text: str) -> str:
    return (
        f"{code(token)} is not a severity. Use P0 (outage, data loss, breach), P1 (major, &gt; 5 % "
        f"errors), P2 (minor) or P3 (minor bug): {typed(usage_text)}."
    )


def assign_usage(usage_text: str) -> str:
    return f"Name a role and a person: {typed(usage_text)}, e.g. `assign comms @dana`."


def bad_role(word: str, usage_text: str) -> str:
    return (
        f"{code(word)} is not a role. Roles are commander, comms and scribe: {typed(usage_text)}."
    )


def bad_mention(word: str, usage_text: str) -> str:
    return (
        f"{code(word)} is not a person. Type `@` and pick them from Slack's list: "
        f"{typed(usage_text)}."
    )


def missing_text(usage_text: str) -> str:
    return f"Add the text: {typed(usage_text)}."


def text_too_long(length: int, limit: int, usage_text: str) -> str:
    return (
        f"That text is {counted(length, 'character')} long; Slack shows at most {limit}. "
        "Split it in two: "
        f"{typed(usage_text)} twice."
    )


def declaring(title: str, severity: str, defaulted: bool) -> str:
    note = (
        f" Severity {escape(severity)} (the default; add P0–P3 before the title to choose)."
        if defaulted
        else f" Severity {escape(severity)}."
    )
    return f"Declaring *{escape(title)}* …{note}"


def declared(incident_id: str, channel_id: str, severity: str, defaulted: bool) -> str:
    note = " (default — change it with `/incident severity P1`)" if defaulted else ""
    return (
        f"{escape(incident_id)} declared as {escape(severity)}{note}. Join {channel(channel_id)} "
        "— it has the live card."
    )


def declare_unconfirmed(title: str) -> str:
    return (
        f"⚠️ Fireline could not confirm that *{escape(title)}* was declared: Redis stopped "
        f"answering while it was being saved. Run {typed('list')} in a minute: if it shows up, "
        "it was declared (do not declare it again; Fireline finishes setting it up). If it "
        "does not, declare it again."
    )


def already_declared(incident_id: str, channel_id: str | None) -> str:
    where = f" in {channel(channel_id)}" if channel_id else ""
    return f"That request already declared {escape(incident_id)}{where}; nothing new was created."


def setup_incomplete(reason: str) -> str:
    return (
        f"⚠️ Slack set-up incomplete: {escape(reason)}. "
        "Fireline keeps retrying on its own until it is done."
    )


def nothing_changed(incident_id: str, what: Mrkdwn) -> str:
    return f"{escape(incident_id)} {what} already; nothing changed."


def done(incident_id: str, what: Mrkdwn) -> str:
    return f"{escape(incident_id)}: {what}."


def no_open_incidents() -> str:
    return f"No open incidents. 🎉 {typed('declare <title>')} starts one."


def report_posted(incident_id: str) -> str:
    return f"The post-incident report for {escape(incident_id)} is uploaded to this channel."


def writing_report(incident_id: str) -> str:
    return f"Writing the report for {escape(incident_id)} …"


def no_playbooks() -> str:
    return (
        "Playbooks are not available in this Fireline. Run the diagnostics yourself: "
        "`/incident help` lists them."
    )


def not_said(places: list[Mrkdwn]) -> str:
    return (
        f"The new severity is recorded and on the card, but Slack did not let Fireline say it in "
        f"{', '.join(places)}. Invite Fireline there (`/invite @Fireline`) or tell them yourself."
    )
