"""How Slack reads a message's mrkdwn: what it shows, whom it notifies, where its links go.

The double stores messages as the bot sent them, as Slack does; this module is the reading side,
written from Slack's formatting reference rather than from Fireline's own helpers, so the tests
that use it check Fireline against Slack's rules, not against itself:
- `<@U…>` a person, `<#C…>` a channel, `<!here>` `<!channel>` `<!everyone>` a broadcast,
  `<!subteam^S…>` a user group, `<!date^…|fallback>` a date, any other `<target|label>` a link;
- outside those, `&lt;` `&gt;` `&amp;` are shown as `<` `>` `&` (inside code too), and nothing
  else is decoded;
- `plain_text` objects are shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_DECODED = {"lt": "<", "gt": ">", "amp": "&"}
BROADCASTS = frozenset({"here", "channel", "everyone"})


@dataclass(frozen=True)
class Token:
    """One `<…>` Slack acts on: kind is user, channel, broadcast, usergroup, date or link."""

    kind: str
    target: str
    label: str


def decode(text: str) -> str:
    """Slack's entities, decoded once (`&amp;lt;` shows as `&lt;`)."""
    return _ENTITY.sub(lambda m: _DECODED[m.group(1)], text)


def _token(inner: str) -> Token:
    target, _, label = inner.partition("|")
    label = decode(label)
    if target.startswith("@"):
        return Token("user", target[1:], label)
    if target.startswith("#"):
        return Token("channel", target[1:], label)
    if target.startswith("!subteam^"):
        return Token("usergroup", target.removeprefix("!subteam^"), label)
    if target.startswith("!date^"):
        return Token("date", target.removeprefix("!date^"), label)
    if target.startswith("!"):
        return Token("broadcast", target[1:], label)
    return Token("link", decode(target), label)


def tokens(text: str) -> list[Token]:
    """Every `<…>` in mrkdwn, as Slack reads it."""
    return [_token(m.group(1)) for m in _TOKEN.finditer(text)]


def notifies(text: str) -> list[str]:
    """Who a message with this mrkdwn notifies: `@channel`-style broadcasts, user groups, people."""
    out = []
    for token in tokens(text):
        if token.kind == "broadcast" and token.target in BROADCASTS:
            out.append("@" + token.target)
        elif token.kind == "usergroup":
            out.append("subteam^" + token.target)
        elif token.kind == "user":
            out.append("@" + token.target)
    return out


def links(text: str) -> list[str]:
    """Where this mrkdwn's links go."""
    return [t.target for t in tokens(text) if t.kind == "link"]


def shown(
    text: str, users: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None
) -> str:
    """The words Slack shows for this mrkdwn (formatting marks such as `*` left in place)."""
    users, channels = users or {}, channels or {}

    def one(token: Token) -> str:
        if token.kind == "user":
            return "@" + (users.get(token.target) or token.label or token.target)
        if token.kind == "channel":
            return "#" + (token.label or channels.get(token.target) or token.target)
        if token.kind == "broadcast":
            return token.label or "@" + token.target
        if token.kind == "usergroup":
            return token.label or "@" + token.target
        if token.kind == "date":
            return token.label
        return token.label or token.target

    out, last = [], 0
    for match in _TOKEN.finditer(text):
        out.append(decode(text[last : match.start()]))
        out.append(one(_token(match.group(1))))
        last = match.end()
    out.append(decode(text[last:]))
    return "".join(out)


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def mrkdwn_texts(message: Mapping[str, Any]) -> list[str]:
    """Every mrkdwn text of a message: its `text` (Slack formats it too) and its blocks'."""
    found = [str(message["text"])] if message.get("text") else []
    found += [o["text"] for o in _objects(message.get("blocks") or []) if o["type"] == "mrkdwn"]
    return found


def plain_texts(message: Mapping[str, Any]) -> list[str]:
    """Every plain_text of a message's blocks (headers, buttons, options): shown as they are."""
    return [o["text"] for o in _objects(message.get("blocks") or []) if o["type"] == "plain_text"]


def message_shown(
    message: Mapping[str, Any],
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
) -> str:
    """Everything a person reads in a message, one text object per line."""
    return "\n".join(
        [shown(t, users, channels) for t in mrkdwn_texts(message)] + plain_texts(message)
    )
