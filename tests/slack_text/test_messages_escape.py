"""Every sentence Fireline can say, said with hostile words: none of them pings, links or hides
what was typed.

Each public function of every `messages` module is called with, for each plain parameter, text
a person or an alert could send (`<!channel>`, a disguised link, `&`); parameters typed `Mrkdwn`
get Fireline's own mrkdwn. What comes back (mrkdwn, unless typed `Plain`) must notify no one,
link nowhere, and show the hostile words as they were written wherever it shows them. A new
sentence is covered the day it is written; one that cannot be called this way fails here.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.blockkit import Mrkdwn, Plain
from bot.sandbox.doubles.slack import mrkdwn as slack
from tests.slack_text.catalog import message_functions

HOSTILE = "<!channel> & <https://evil.example|sso.example.com>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;https://evil.example|sso.example.com&gt;"
OURS = "*ours*"
# Parameters whose values are one of a few words (they pick a sentence).
STATES = [
    "pending",
    "approved",
    "executing",
    "verifying",
    "succeeded",
    "failed",
    "unknown",
    "stale",
    "expired",
    "denied",
    "cancelled",
]
CHOICES: dict[str, dict[str, list[Any]]] = {
    "snoozed": {"choice": ["30m", "1h", "resolved"]},
    "remediation_state_line": {"state": STATES},
    "offer_line": {"state": STATES},
}


@dataclass
class _Usage:
    usage: str
    summary: str


def _value(hint: Any) -> Any:
    if hint == Mrkdwn:
        return OURS
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _value(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return _value(next(a for a in args if a is not type(None)))
    if hint is str:
        return HOSTILE
    if hint is bool:
        return False
    if hint in (int, float):
        return 3
    if origin is tuple:
        return tuple(_value(a) for a in args if a is not Ellipsis)
    if origin is list or (origin and "Iterable" in str(origin)):
        return [_value(args[0]) if args else HOSTILE]
    if (origin is not None and "Mapping" in str(origin)) or origin is dict:
        return {HOSTILE: HOSTILE}
    return _Usage(HOSTILE, HOSTILE)


def _calls(fn: Callable[..., Any]) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(fn, include_extras=True)
    base = {
        name: _value(hints[name])
        for name in inspect.signature(fn).parameters
        if name in hints and name != "return"
    }
    choices = CHOICES.get(fn.__name__, {})
    if not choices:
        return [base]
    ((param, values),) = choices.items()
    return [{**base, param: value} for value in values]


FUNCTIONS = message_functions()


def test_every_messages_module_is_found() -> None:
    names = {name.rsplit(".", 1)[0] for name, _ in FUNCTIONS}
    assert {"bot.messages", "bot.commands.messages", "bot.alerts.messages"} <= names
    assert len(FUNCTIONS) > 80


@pytest.mark.parametrize(("name", "fn"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_a_sentence_with_hostile_words_pings_no_one_and_shows_them(
    name: str, fn: Callable[..., Any]
) -> None:
    returns = typing.get_type_hints(fn, include_extras=True).get("return")
    for kwargs in _calls(fn):
        said = fn(**kwargs)
        if returns == Plain:
            continue  # escaped where it is rendered (tests/slack_text/test_views_escape.py)
        assert isinstance(said, str), name
        assert slack.notifies(said) == [], (name, said)
        assert slack.links(said) == [], (name, said)
        assert "<!" not in said and "<http" not in said, (name, said)
        if HOSTILE in str(kwargs.values()) and ESCAPED in said:
            assert HOSTILE in slack.shown(said)


def test_usage_strings_read_as_written() -> None:
    from bot.commands import messages

    text = messages.usage([_Usage("diagnose <deployment> [-n namespace]", "look at it")])
    assert "/incident diagnose <deployment> [-n namespace]" in slack.shown(text)
    assert slack.tokens(text) == []
    assert "`/incident declare P1 <what is broken>`" in slack.shown(messages.missing_title("P1"))
