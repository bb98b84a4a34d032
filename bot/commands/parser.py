"""`/incident …` text → a `Command`, or a `UsageError` that says what to type instead.

Pure: no I/O, no Slack. The grammar is `/incident <subcommand> [INC-n] [arguments]`; the
incident ID may be left out inside an incident's own channel.

Which subcommands exist is not decided here: a `Subcommands` table (built by the dispatcher,
which owns the handlers) lists each one with its usage, summary, aliases, argument parser and
handler, and parsing, `help` and dispatch all read that one table. This module holds the table's
types and the argument parsers its entries name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass

from bot import messages as shared
from bot.blockkit import from_slack
from bot.commands import messages
from bot.errors import UsageError
from bot.incident import MAX_TEXT, MAX_TITLE, Incident, Role, Severity, parse_incident_id
from bot.interaction import Actor, Reply

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
SEVERITY_LIKE = re.compile(r"^(?:p|sev)\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    name: str
    incident_id: str | None = None
    severity: Severity | None = None
    severity_given: bool = False
    role: Role | None = None
    user: str | None = None
    text: str | None = None
    action: bool = False  # a diagnostic or remediation action; `text` holds its arguments


Handler = Callable[[Command, Actor], Awaitable[Reply]]
"""Does a subcommand that is about no incident in particular."""

IncidentHandler = Callable[[Command, Actor, Incident], Awaitable[Reply]]
"""Does a subcommand about one incident, once the router has found it."""


@dataclass(frozen=True)
class OnIncident:
    """Marks a subcommand as about one incident: the parser takes an `INC-n` after its name, and
    the router claims the request (a redelivery does nothing) and finds the incident (the ID
    given, else the channel's) before calling `handler`."""

    handler: IncidentHandler


Parse = Callable[["Subcommand", str | None, str], Command]
"""A subcommand's arguments → its `Command`: (the entry, the incident ID taken, the rest)."""


def no_args(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    if rest:
        raise UsageError(shared.unexpected_arguments(spec.usage, rest))
    return Command(spec.name, incident_id=incident_id)


@dataclass(frozen=True)
class Subcommand:
    """One `/incident` subcommand: everything the parser, `help` and the router need."""

    name: str
    usage: str
    """What to type after `/incident`, e.g. `severity <P0|P1|P2|P3>` (help shows it)."""
    summary: str
    """What it does, one line (help shows it)."""
    handler: Handler | OnIncident
    """What it does; `OnIncident(...)` when it is about one incident."""
    parse: Parse = no_args
    """Its arguments → the `Command`; the default takes none."""
    aliases: tuple[str, ...] = ()
    """Other words that mean it (`sev` for `severity`)."""

    @property
    def needs_incident(self) -> bool:
        return isinstance(self.handler, OnIncident)


class Subcommands:
    """The subcommands an app has, in the order `help` lists them (the one table)."""

    def __init__(self, *entries: Subcommand) -> None:
        self._entries = entries
        self._by_word: dict[str, Subcommand] = {}
        for entry in entries:
            for word in (entry.name, *entry.aliases):
                if word in self._by_word:
                    raise ValueError(f"two subcommands are called {word!r}")
                self._by_word[word] = entry

    def __iter__(self) -> Iterator[Subcommand]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> Subcommand:
        return self._by_word[name]

    def parse(self, raw: str, actions: Collection[str] = ()) -> Command:
        """Parse `/incident …`; `actions` are the action names the app was built with."""
        raw = raw.strip() if raw else ""
        text = " ".join(raw.split())
        if not text:
            return Command("help")
        word, _, rest = text.partition(" ")
        if word.lower() in actions:
            # Actions parse their own arguments (quoted patterns keep their spaces).
            given = raw.split(None, 1)[1] if " " in raw else ""
            return Command(word.lower(), text=from_slack(given, mentions=False), action=True)
        spec = self._by_word.get(word.lower())
        if spec is None:
            if parse_incident_id(word):
                raise UsageError(messages.id_before_subcommand(word))
            raise UsageError(messages.unknown_subcommand(word, self.suggest(word, actions)))
        incident_id, rest = _take_incident_id(rest) if spec.needs_incident else (None, rest)
        return spec.parse(spec, incident_id, rest)

    def suggest(self, word: str, actions: Collection[str] = ()) -> str | None:
        """The subcommand (an alias stands for its subcommand) or action a typo is closest to."""
        words = [*self._by_word, *actions]
        close = difflib.get_close_matches(word.lower(), words, n=1, cutoff=0.6)
        if not close:
            return None
        entry = self._by_word.get(close[0])
        return entry.name if entry else close[0]


def topic(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    """`help [command]`: the command asked about, as typed (a mention is its name, never a
    marked mention to render)."""
    return Command(spec.name, text=from_slack(rest, mentions=False) or None)


def _take_incident_id(rest: str) -> tuple[str | None, str]:
    first, _, remainder = rest.partition(" ")
    incident_id = parse_incident_id(first) if first else None
    return (incident_id, remainder) if incident_id else (None, rest)


# --- the argument parsers the table's entries name -------------------------------------------


def declare(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    first, _, title = rest.partition(" ")
    if SEVERITY_LIKE.match(first):
        severity = _severity(first, spec.usage)
        if not title:
            raise UsageError(messages.missing_title(severity.value))
        return Command(spec.name, severity=severity, severity_given=True, text=_title(title))
    if not rest:
        return Command(spec.name)  # no title: the handler opens the form
    return Command(spec.name, severity=None, text=_title(rest))


def _title(title: str) -> str:
    title = from_slack(title, mentions=False).strip()  # as typed; a title mentions no one
    if len(title) > MAX_TITLE:
        raise UsageError(messages.title_too_long(len(title), MAX_TITLE))
    return title


def _severity(token: str, usage: str) -> Severity:
    try:
        return Severity(token.upper())
    except ValueError:
        raise UsageError(messages.bad_severity(token, usage)) from None


def severity(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
    level, _, after = rest.partition(" ")
    if incident_id is None and (named := parse_incident_id(after)):
        rest, incident_id = level, named  # `severity P0 INC-1`: the ID after the level
    if not rest or " " in rest:
        raise UsageError(messages.bad_severity(rest or "(nothing)", spec.usage))
    return Command(spec.name, incident_id=incident_id, severity=_severity(rest, spec.usage))


def assign(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
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
    return Command(spec.name, incident_id=incident_id, role=role, user=mention.group(1))


def text(*, required: bool) -> Parse:
    """Free text after the subcommand (and the incident ID), within Slack's length."""

    def parse_text(spec: Subcommand, incident_id: str | None, rest: str) -> Command:
        rest = from_slack(rest)  # as typed, people's and channels' mentions kept
        if required and not rest:
            raise UsageError(messages.missing_text(spec.usage))
        if len(rest) > MAX_TEXT:
            raise UsageError(messages.text_too_long(len(rest), MAX_TEXT, spec.usage))
        return Command(spec.name, incident_id=incident_id, text=rest or None)

    return parse_text
