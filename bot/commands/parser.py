"""`/incident …` text → a `Command`, or a `UsageError` that says what to type instead.

Pure: no I/O, no Slack. The grammar is `/incident <subcommand> [INC-n] [arguments]`; the
incident ID may be left out inside an incident's own channel.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bot import messages as shared
from bot.commands import messages
from bot.errors import UsageError
from bot.incident import MAX_TEXT, MAX_TITLE, Role, Severity, parse_incident_id

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
SEVERITY_LIKE = re.compile(r"^(?:p|sev)\d+$", re.IGNORECASE)

ALIASES = {
    "acknowledge": "ack",
    "sev": "severity",
    "mitigate": "mitigated",
    "resolved": "resolve",
    "close": "resolve",
    "ls": "list",
    "follow-up": "followup",
    "action": "followup",
    "playbooks": "playbook",
    "runbook": "playbook",
}


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    needs_incident: bool


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "declare", "declare [P0|P1|P2|P3] <title>", "declare an incident (no title: a form)", False
    ),
    Subcommand("ack", "ack", "acknowledge: someone is on it", True),
    Subcommand("severity", "severity <P0|P1|P2|P3>", "change the severity", True),
    Subcommand("assign", "assign <commander|comms|scribe> @person", "give someone a role", True),
    Subcommand(
        "update", "update <text>", "post a status update (here and in the broadcast channel)", True
    ),
    Subcommand("note", "note <text>", "add a note to the timeline", True),
    Subcommand("followup", "followup <text>", "add an action item to the report", True),
    Subcommand("mitigated", "mitigated", "impact has stopped; root cause may remain", True),
    Subcommand("resolve", "resolve [summary]", "resolve and post the report", True),
    Subcommand("status", "status", "show the incident's summary", True),
    Subcommand("timeline", "timeline", "show the timeline", True),
    Subcommand("report", "report", "upload the post-incident report", True),
    Subcommand("list", "list", "open incidents, everywhere", False),
    Subcommand(
        "playbook",
        "playbook [name] [target] [-n namespace]",
        "list the playbooks, or run one: its diagnostics, then what to do",
        False,
    ),
    Subcommand("help", "help", "this help", False),
)
BY_NAME = {s.name: s for s in SUBCOMMANDS}


@dataclass(frozen=True)
class Command:
    name: str
    incident_id: str | None = None
    severity: Severity | None = None
    severity_given: bool = False
    role: Role | None = None
    user: str | None = None
    text: str | None = None
    action: bool = False  # a diagnostic (or later remediation) action; `text` holds its arguments

    @property
    def spec(self) -> Subcommand:
        return BY_NAME[self.name]


_Parser = Callable[[Subcommand, "str | None", str], "Command"]


def parse(raw: str, actions: Collection[str] = ()) -> Command:
    """Parse `/incident …`; `actions` are the action names the app was built with."""
    raw = raw.strip() if raw else ""
    text = " ".join(raw.split())
    if not text:
        return Command("help")
    word, _, rest = text.partition(" ")
    if word.lower() in actions:
        # Actions parse their own arguments (quoted patterns keep their spaces).
        return Command(word.lower(), text=raw.split(None, 1)[1] if " " in raw else "", action=True)
    name = ALIASES.get(word.lower(), word.lower())
    if name not in BY_NAME:
        if parse_incident_id(word):
            raise UsageError(messages.id_before_subcommand(word))
        words = [*BY_NAME, *ALIASES, *actions]
        close = difflib.get_close_matches(name, words, n=1, cutoff=0.6)
        suggestion = ALIASES.get(close[0], close[0]) if close else None
        raise UsageError(messages.unknown_subcommand(word, suggestion))
    spec = BY_NAME[name]
    incident_id, rest = _take_incident_id(rest) if spec.needs_incident else (None, rest)
    parser = _PARSERS.get(name)
    return parser(spec, incident_id, rest) if parser else _no_args(spec, incident_id, rest)


def _take_incident_id(rest: str) -> tuple[str | None, str]:
    first, _, remainder = rest.partition(" ")
    incident_id = parse_incident_id(first) if first else None
    return (incident_id, remainder) if incident_id else (None, rest)


def _no_args(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    if rest:
        raise UsageError(shared.unexpected_arguments(spec.usage, rest))
    return Command(spec.name, incident_id=incident_id)


def _declare(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    first, _, title = rest.partition(" ")
    if SEVERITY_LIKE.match(first):
        severity = _severity(first, spec.usage)
        if not title:
            raise UsageError(messages.missing_title(severity.value))
        return Command("declare", severity=severity, severity_given=True, text=_title(title))
    if not rest:
        return Command("declare")  # no title: the handler opens the form
    return Command("declare", severity=None, text=_title(rest))


def _title(title: str) -> str:
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise UsageError(messages.title_too_long(len(title), MAX_TITLE))
    return title


def _severity(token: str, usage: str) -> Severity:
    try:
        return Severity(token.upper())
    except ValueError:
        raise UsageError(messages.bad_severity(token, usage)) from None


def _severity_cmd(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    if not rest or " " in rest:
        raise UsageError(messages.bad_severity(rest or "(nothing)", spec.usage))
    return Command("severity", incident_id=incident_id, severity=_severity(rest, spec.usage))


def _assign(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    parts = rest.split(" ")
    if len(parts) != 2:
        raise UsageError(messages.assign_usage(spec.usage))
    role_word, who = parts
    try:
        role = Role(role_word.lower())
    except ValueError:
        raise UsageError(messages.bad_role(role_word, spec.usage)) from None
    mention = MENTION.match(who)
    if not mention:
        raise UsageError(messages.bad_mention(who, spec.usage))
    return Command("assign", incident_id=incident_id, role=role, user=mention.group(1))


def _with_text(required: bool) -> _Parser:
    def parse_text(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
        if required and not rest:
            raise UsageError(messages.missing_text(spec.usage))
        if len(rest) > MAX_TEXT:
            raise UsageError(messages.text_too_long(len(rest), MAX_TEXT, spec.usage))
        return Command(spec.name, incident_id=incident_id, text=rest or None)

    return parse_text


_PARSERS: dict[str, _Parser] = {
    "declare": _declare,
    "severity": _severity_cmd,
    "assign": _assign,
    "update": _with_text(required=True),
    "note": _with_text(required=True),
    "followup": _with_text(required=True),
    "resolve": _with_text(required=False),
    "playbook": _with_text(required=False),
}
