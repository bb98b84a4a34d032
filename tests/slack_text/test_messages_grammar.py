"""Every sentence Fireline can say, rendered with ordinary arguments and read as a person would:
"a approver", "1 events", "2 event", "diagnostic(s)", doubled spaces, a `{name}` or `%s` or a raw
`<placeholder>` left in, "None" shown, "No X is not configured" (issue 15).

Each public function of every `messages` module (`bot/**/messages.py`, `handlers/messages.py`)
is found by introspection and called with arguments made from its type hints: counts of 0, 1
and 2 for every int, both values of a bool, an absent and a present optional, and a few names a
table below gives real-looking values for (an incident ID, a user ID, a namespace). One argument
varies at a time. What Slack would show (`mrkdwn.shown`) is checked by `mistakes()`, which a
planted sentence of each kind proves can fail. A new sentence is checked the day it is written.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.blockkit import Mrkdwn, Plain
from bot.sandbox.doubles.slack import mrkdwn as slack
from tests.slack_text.catalog import message_functions
from tests.slack_text.test_messages_escape import CHOICES


@dataclass
class _Usage:
    usage: str
    summary: str


# Real-looking values by parameter name (the type hint says only `str`).
NAMED: dict[str, list[Any]] = {
    "incident_id": ["INC-7"],
    "remediation_id": ["R-3"],
    "severity": ["P1"],
    "new": ["P0"],
    "old": ["P2"],
    "user": ["U0ALICE"],
    "actor": ["U0BOB"],
    "commander": ["U0CAROL", None],
    "assignee": ["U0DANA"],
    "requester": ["U0ALICE"],
    "approver": ["U0BOB"],
    "other": ["U0BOB"],
    "channel": ["C0ROOM", None],
    "channel_id": ["C0ROOM", None],
    "where": ["C0ROOM", None],
    "here": ["INC-3", None],
    "group": ["S0ONCALL", None],
    "namespace": ["orion-prod"],
    "cluster": ["prod-eu"],
    "deployment": ["checkout"],
    "pod": ["checkout-7d9f-abcde"],
    "container": ["app"],
    "kind": ["done", "na"],
    "action": ["restart"],
    "verb": ["severity"],
    "doing": ["Changing the severity"],
    "title": ["Checkout is slow"],
    "item": ["Is the issue impacting users right now?"],
    "word": ["acknowledge"],
    "token": ["P9"],
    "code": ["channel_not_found", "is_archived"],
    "reason": ["the pool is exhausted"],
    "usage_text": ["note <text>"],
    "text": ["rolled back to 2.3.0"],
    "suggestion": ["ack", None],
    "flag": ["--since"],
    "rest": ["extra words"],
    "problem": ["no closing quotation"],
    "target": ["deployment/checkout"],
    "what": ["The checklist"],
    "alertname": ["Watchdog"],
    "silent_for": ["12 min"],
    "image": ["registry.example/checkout:2.3.1"],
    "revision": ["7"],
    "images": ["checkout:2.3.1"],
    "meaning": ["Complete outage, data loss or security breach"],
    "detail": ["it timed out"],
    "outcome": ["ok", "failed"],
    "headline": ["3 pods restarting", ""],
    "role": ["responder"],
    "field": ["targets"],
    "choice": ["30m"],
    "until": ["<!date^1700000000^{time}|09:00 UTC>"],
    "holders": ["<@U0CAROL>", ""],
    "subcommands": [[_Usage("declare [P0|P1|P2|P3] <title>", "declare an incident"),
                     _Usage("ack", "acknowledge it")]],
    "actions": [[("logs <deployment> [-n namespace]", "Recent log lines of its pods.")], None],
}  # fmt: skip
TEXT = "checkout"
COUNTS = [0, 1, 2]


def _values(name: str, hint: Any) -> list[Any]:
    """Representative values for one parameter, the first being its ordinary one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _values(name, args[0])
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        values = _values(name, present[0])
        return values if None in values or type(None) not in args else [*values, None]
    if name in NAMED and hint is not bool and hint not in (int, float):
        return list(NAMED[name])
    if hint is str:
        return [TEXT]
    if hint is bool:
        return [False, True]
    if hint is int:
        return COUNTS
    if hint is float:
        return [0.0, 1.0, 90.0, 3600.0]
    if origin is tuple:
        item = args[0] if args else str
        return [tuple(_values(name, item)[:1] * 2), (), tuple(_values(name, item)[:1])]
    if origin is list or (origin is not None and "Iterable" in str(origin)):
        item = _values(name, args[0] if args else str)[0]
        if isinstance(item, str) and name in {"held", "allowing", "granting", "roles"}:
            item = "responder"
        return [[item, item + "-2" if isinstance(item, str) else item], [], [item]]
    if origin is dict or (origin is not None and "Mapping" in str(origin)):
        return [{"app": "checkout"}, {}]
    return [[_Usage("note <text>", "add a note to the timeline")]]


def _calls(fn: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    hints = typing.get_type_hints(fn, include_extras=True)
    params = [p for p in inspect.signature(fn).parameters if p in hints]
    choices = CHOICES.get(fn.__name__, {})
    options = {p: choices.get(p) or _values(p, hints[p]) for p in params}
    base = {p: values[0] for p, values in options.items()}
    yield base
    for param, values in options.items():
        for value in values[1:]:
            yield {**base, param: value}


# --- the checker --------------------------------------------------------------------------

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
_ARTICLE = re.compile(r"\b([Aa]n?) ([A-Za-z0-9][\w'-]*)")
_VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")  # how a letter's name starts: an "F", an "S"
_CONSONANT_VOWELS = ("uni", "use", "usu", "uti", "eu", "one", "once", "ubiq", "url", "uri")
_SILENT_H = ("hour", "honest", "honou", "heir")
_SINGULAR_S = {
    "status", "class", "process", "access", "bus", "analysis", "is", "was", "has", "this",
    "its", "yes", "previous", "less", "plus", "across", "always", "s", "ms", "sus", "pass",
}  # fmt: skip
_NOUNS = {
    "event", "item", "pod", "replica", "alert", "minute", "second", "hour", "day", "incident",
    "checklist", "step", "playbook", "diagnostic", "line", "container", "restart", "error",
    "group", "file", "action", "person", "user", "channel", "namespace", "deployment",
    "request", "result", "answer", "entry", "match", "attempt", "time", "node", "query",
    "target", "role", "finding", "offer", "post", "character", "message", "change", "label",
}  # fmt: skip
_NUMBER_NOUN = re.compile(r"(?<![\w./:-])(\d+) ([a-z]+)(?: ([a-z]+))?")
_DOUBLE_NEGATIVE = re.compile(  # within one clause: "No target is not configured"
    r"\b(?:no|nothing|never|nobody|none)\b[^.,;:!?\n()—]*\b(?:not|isn't|aren't|wasn't)\b", re.I
)


def _article_wrong(article: str, word: str) -> bool:
    if word[0].isdigit():
        spoken_vowel = word.startswith(("8", "11", "18")) and not word.startswith(("110", "111"))
    elif (word.isupper() and len(word) > 1) or re.match(r"^[A-Z][0-9]", word):
        spoken_vowel = word[0] in _VOWEL_SOUND_LETTERS
    else:
        low = word.lower()
        spoken_vowel = (low[0] in "aeiou" and not low.startswith(_CONSONANT_VOWELS)) or (
            low.startswith(_SILENT_H)
        )
    return (article.lower() == "an") != spoken_vowel


def mistakes(mrkdwn: str) -> list[str]:
    """What a careful reader would circle in this sentence (Slack's rendering of it)."""
    found: list[str] = []
    for token in slack.tokens(mrkdwn):  # Slack's own forms only: <@U…>, <#C…>, <!date…>, links
        if token.kind == "link" and not re.match(r"https?://", token.target):
            found.append(f"a placeholder Slack reads as a link: <{token.target}>")
        elif token.kind == "broadcast":
            found.append(f"a broadcast: <!{token.target}>")
    if re.search(r"\{[a-z_]+\}|%[sdr]\b|%\(", _strip_tokens(mrkdwn)):
        found.append("an unreplaced placeholder")
    shown = slack.shown(mrkdwn)
    prose = _CODE.sub("`code`", shown)
    for line in prose.splitlines():
        if re.search(r"\S {2,}\S", line):
            found.append(f"a run of spaces: {line!r}")
    words = re.sub(r"[*_~]", "", prose)
    for article, word in _ARTICLE.findall(words):
        if _article_wrong(article, word):
            found.append(f"{article} {word}")
    for number, first, second in _NUMBER_NOUN.findall(words):
        # The head noun: "2 new replicas", "2 playbook diagnostics" (a compound's last word).
        noun = second if _noun(second) else first if _noun(first) else ""
        if number == "1" and noun.endswith("s") and noun not in _SINGULAR_S:
            found.append(f"{number} {noun}")
        if number != "1" and noun in _NOUNS:
            found.append(f"{number} {noun}")
    if re.search(r"\w\(s\)", words):
        found.append("a lazy plural (s)")
    if re.search(r"\bNone\b", words):
        found.append("None shown")
    found += [f"a double negative: {m!r}" for m in _DOUBLE_NEGATIVE.findall(words)]
    return found


def _noun(word: str) -> bool:
    return word in _NOUNS or (word.endswith("s") and word[:-1] in _NOUNS) or word == "entries"


def _strip_tokens(mrkdwn: str) -> str:
    return re.sub(r"<[^<>]*>", "", mrkdwn)


FUNCTIONS = message_functions()
PLANTED = {
    "a approver": "Ask a approver to look.",
    "an user": "Only an user in the role may.",
    "1 events": "Found 1 events in the last hour.",
    "2 event": "Found 2 event in the last hour.",
    "(s)": "2 playbook diagnostic(s) were not shown.",
    "spaces": "The rollout  is stuck.",
    "{name}": "Check {namespace} first.",
    "%s": "Restarted %s.",
    "<placeholder>": "Type /incident note <text> to add one.",
    "None": "The commander is None.",
    "double negative": "No health-check target is not configured.",
}


@pytest.mark.parametrize(("kind", "sentence"), PLANTED.items(), ids=list(PLANTED))
def test_the_checker_catches_each_kind_of_mistake(kind: str, sentence: str) -> None:
    assert mistakes(sentence), kind


def test_the_checker_passes_good_sentences() -> None:
    for good in (
        "An SLO, a URL, an hour, a user, an 8-minute wait, a P1, an HTTP error, a one-off.",
        "1 event, 2 events, 0 pods; 1 status; 1 min.",
        "Type `/incident note &lt;text&gt;`, with `-n  ns` in code. <@U0ALICE> in <#C0ROOM>.",
        "No open incidents. Nothing was changed, and it is not configured.",
        "```/incident ack       acknowledge\n/incident help      this help```",
    ):
        assert mistakes(good) == [], good


def test_every_messages_module_is_found() -> None:
    modules = {name.rsplit(".", 1)[0] for name, _ in FUNCTIONS}
    assert {"bot.messages", "bot.commands.messages", "handlers.messages"} <= modules
    assert len(FUNCTIONS) > 100


@pytest.mark.parametrize(("name", "fn"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_every_sentence_reads_right(name: str, fn: Callable[..., Any]) -> None:
    returns = typing.get_type_hints(fn, include_extras=True).get("return")
    for kwargs in _calls(fn):
        said = fn(**kwargs)
        text = said if returns != Plain else said.replace("&", "&amp;").replace("<", "&lt;")
        assert isinstance(text, str), name
        assert mistakes(text) == [], (name, kwargs, text)
    assert returns in (str, Mrkdwn, Plain)


def test_help_has_no_runs_of_spaces_in_its_sentences() -> None:
    from bot.commands import messages

    text = messages.usage(
        [_Usage("declare [P0|P1|P2|P3] <title>", "declare an incident"), _Usage("ack", "ack")],
        [("logs <deployment>", "Recent log lines of a deployment's pods.")],
    )
    assert mistakes(text) == []


async def test_the_real_help_reads_right(harness: Any) -> None:
    """`/incident help` as the bot answers it: its sentences (outside code and inside it, past
    the alignment of the table) have no runs of spaces, and they read right."""
    h = harness
    await h.command(h.alice, "help")
    text = await h.told(h.alice, "`/incident` commands")
    assert mistakes(text) == []
    blocks = re.findall(r"```(.*?)```", text, re.S)
    assert len(blocks) == 2, text  # the subcommands, the diagnostics
    for line in "\n".join(blocks).splitlines():
        said = re.sub(r"^/incident \S.*?\S {2,}", "", line.strip())  # the table's alignment
        assert not re.search(r"\S {2,}\S", said), line


def test_who_may_approve_reads_as_english() -> None:
    """The approval card's "Waiting for approval by …" (it read "by a approver / commander")."""
    from bot.remediation.messages import remediation_approvers

    assert remediation_approvers(("approver", "commander"), False) == (
        "an approver or commander (not the requester)"
    )
    assert remediation_approvers(("commander",), True) == "a commander"
    assert remediation_approvers((), False) == "nobody (no role may approve)"
