"""Block Kit building blocks every feature renders with, the IDs of Fireline's buttons, and the
one place where text is made safe for Slack's mrkdwn.

The incident card, checklists, approval cards, alert threads and playbook runs all build their
messages from these few pure functions, so each feature's `views` module depends only on this
one and on its own records, never on another feature's views.

Text safety (docs/decisions/slack-text.md). Slack reads `<…>` in mrkdwn as a mention, a
broadcast or a link, and requires `&`, `<`, `>` written as `&amp; &lt; &gt;`, inside code spans
and blocks too. So:
- every piece of text from a person, an alert, a log or Kubernetes goes through `escape()` before
  it is put into mrkdwn (a section, a context, a field, a message's `text`, a topic);
- `<…>` is only ever written by the helpers below (`user`, `channel`, `usergroup`, `slack_date`,
  `link`), which check the shape of what they wrap: a title can never ping `@channel`;
- `plain_text` objects (headers, buttons, modal titles, options, inputs) are not mrkdwn: Slack
  shows them as they are, so they are never escaped (that would show `&lt;`).
Nothing here may decide that some outside text is "already safe": only Fireline's own formatting
is.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

Block = dict[str, Any]

Mrkdwn = Annotated[str, "mrkdwn"]
"""Text already in mrkdwn: Fireline's own formatting, every outside part escaped. A parameter
typed so takes such text as it is (a rendered date, a list of approvers); a `messages` function
returns it. (A marker the tests read, as `typing.get_type_hints(…, include_extras=True)`.)"""

Plain = Annotated[str, "plain"]
"""A phrase that is not mrkdwn yet: kept in a record or a diagnostic's result and escaped where
it is rendered (a remediation's reason, a rollout's progress), or put in a plain_text object."""

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,30}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{1,30}$")
_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{1,30}$")
_URL = re.compile(r"^https?://[^\s<>|\x00-\x1f\x7f]+$", re.IGNORECASE)
_DATE_FORMAT = re.compile(r"^[{}A-Za-z_ :,./-]*$")
_TOKEN = re.compile(r"<([^<>]*)>")

ACK = "incident_ack"
TAKE_COMMAND = "incident_take_command"
SEVERITY = "incident_severity"
POST_UPDATE = "incident_post_update"
RESOLVE = "incident_resolve"
DECLARE_VIEW = "incident_declare"
UPDATE_VIEW = "incident_update"
RESOLVE_VIEW = "incident_resolve_view"
REMEDIATION_REQUEST = "remediation.request"
"""A button anywhere that requests a remediation; its value is JSON
`{"action": "restart", "params": {"deployment": …, "namespace": …}, "incident": "INC-7"?}`."""


def escape(text: str) -> Mrkdwn:
    """Outside text as mrkdwn that Slack shows exactly as `text`: `&`, `<`, `>` escaped, and so
    no mention, broadcast or link. Not idempotent, on purpose: `&amp;` typed by a person shows
    as `&amp;`. Use it inside code spans and blocks too (Slack decodes them there as well)."""
    return text.translate(_ESCAPES)


def unescape(text: str) -> str:
    """What Slack shows for escaped text: the inverse of `escape` (`<…>` tokens left alone)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def user(user_id: str | None, nobody: str = "—") -> Mrkdwn:
    """A mention of one person; an ID of any other shape (a principal like `alertmanager`, a
    forged value) is shown as text and pings no one."""
    if not user_id:
        return escape(nobody)
    return f"<@{user_id}>" if _USER_ID.match(user_id) else escape(user_id)


def channel(channel_id: str | None, nowhere: str = "—") -> Mrkdwn:
    """A link to a channel; an ID of any other shape is shown as text."""
    if not channel_id:
        return escape(nowhere)
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else escape(channel_id)


def usergroup(group_id: str) -> Mrkdwn:
    """A page to a user group (on-call); an ID of any other shape is shown as text."""
    return f"<!subteam^{group_id}>" if _USERGROUP_ID.match(group_id) else escape(group_id)


def link(url: str, label: str) -> Mrkdwn:
    """`label` linking to `url` when it is an http(s) URL Slack can hold; otherwise both shown
    as text, so an alert's `javascript:` or `<!channel>` URL is only ever read, never followed."""
    if not _URL.match(url):
        return escape(f"{label} ({url})" if url else label)
    return f"<{escape(url)}|{escape(label.replace('|', '¦')) or escape(url)}>"


def code(text: str) -> Mrkdwn:
    """Outside text as an inline code span (escaped: Slack decodes entities there too)."""
    return f"`{escape(text)}`" if text else ""


def code_block(text: str) -> Mrkdwn:
    """Outside text as a preformatted block, escaped."""
    return f"```{escape(text)}```"


def slack_date(when: datetime, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    """A time each reader sees in their own zone; `fmt` is Fireline's own (checked)."""
    ts = int(when.timestamp())
    if not _DATE_FORMAT.match(fmt):
        raise ValueError(f"not a Slack date format: {fmt!r}")
    return f"<!date^{ts}^{fmt}|{when.strftime('%Y-%m-%d %H:%M UTC')}>"


def requote(text: str) -> Mrkdwn:
    """A message a person posted in Slack (mrkdwn as Slack stores it), made safe to post again:
    mentions of people and channels stay, while broadcasts (`<!channel>`), user groups, dates
    and links become the words Slack showed for them, escaped."""
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        out.append(text[last : match.start()].replace("<", "&lt;").replace(">", "&gt;"))
        last = match.end()
        target, _, label = match.group(1).partition("|")
        if (target[:1] == "@" and _USER_ID.match(target[1:])) or (
            target[:1] == "#" and _CHANNEL_ID.match(target[1:])
        ):
            out.append(f"<{target}>")
        elif target[:1] == "!":
            out.append(escape(unescape(label or "@" + target[1:].split("^")[0])))
        else:
            out.append(escape(unescape(label or target)))
    out.append(text[last:].replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


MENTION_OPEN, MENTION_CLOSE = "\ue000", "\ue001"
"""How `from_slack` keeps a mention Slack made in typed text: `\ue000@U123\ue001` (private-use
characters). Not `<@U123>`: that is also what a person gets by typing the characters `<@U123>`
literally (Slack sends `&lt;@U123&gt;`), which must stay text, and decoded text cannot hold these
marks (`from_slack` drops them)."""
_MARKS = str.maketrans("", "", MENTION_OPEN + MENTION_CLOSE)
_KEPT_MENTION = re.compile(f"{MENTION_OPEN}([@#])([A-Z0-9]{{2,31}}){MENTION_CLOSE}")


def from_slack(text: str, *, mentions: bool = True) -> str:
    """What a person typed in a slash command, from the form Slack delivers it in (`&`, `<`,
    `>` encoded; `@dana` as `<@U123|dana>`, `@channel` as `<!channel>`, a link as
    `<https://…|…>`): the words, decoded, with Slack's mentions of people and channels kept
    (marked, see `MENTION_OPEN`; `with_mentions` renders them) and every other token turned
    into the words Slack showed for it (`@channel`, the link's label). `mentions=False`: people
    and channels as the words Slack showed too (`@dana`), for text that cannot mention (a title,
    shown in plain_text headers and channel names)."""
    text = text.translate(_MARKS)
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        out.append(unescape(text[last : match.start()]))
        last = match.end()
        target, _, label = match.group(1).partition("|")
        if (target[:1] == "@" and _USER_ID.match(target[1:])) or (
            target[:1] == "#" and _CHANNEL_ID.match(target[1:])
        ):
            kept = f"{MENTION_OPEN}{target}{MENTION_CLOSE}"
            out.append(kept if mentions else target[:1] + unescape(label or target[1:]))
        elif target[:1] == "!":
            out.append(unescape(label or "@" + target[1:].split("^")[0]))
        else:
            out.append(unescape(label or target))
    out.append(unescape(text[last:]))
    return "".join(out)


def with_mentions(text: str) -> Mrkdwn:
    """Typed text (`from_slack`'s form, or a form's plain text) as mrkdwn: escaped, except the
    mentions of people and channels Slack made, which stay mentions. Characters typed as
    `<!channel>` or `<@U123>` show as typed and ping no one."""
    out: list[str] = []
    last = 0
    for match in _KEPT_MENTION.finditer(text):
        kind, ident = match.groups()
        out.append(escape(text[last : match.start()].translate(_MARKS)))
        out.append(user(ident) if kind == "@" else channel(ident))
        last = match.end()
    out.append(escape(text[last:].translate(_MARKS)))
    return "".join(out)


def shown(text: str, names: dict[str, str] | None = None) -> str:
    """What Slack shows for mrkdwn, as plain text: people as `@name` (from `names`, else their
    ID), channels as `#ID`, dates as their fallback, links as their label, broadcasts as
    `@channel`, entities decoded. For places that are not Slack (the report file)."""
    names = names or {}

    def one(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target[:1] == "@":
            return "@" + (names.get(target[1:]) or label or target[1:])
        if target[:1] == "#":
            return "#" + (label or target[1:])
        if target.startswith("!date^"):
            return label
        if target[:1] == "!":
            return label or "@" + target[1:].split("^")[0]
        return f"{label} ({target})" if label and label != target else target

    return unescape(_TOKEN.sub(one, text))


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 replica`, `2 replicas`, `0 replicas`: a count and its noun, agreeing."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def human_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(p for p in parts if p)


def mrkdwn(text: str) -> Block:
    """A mrkdwn text object; `text` must be mrkdwn already (see `escape`). `verbatim` keeps
    Slack from turning bare words into links or mentions on its own."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str) -> Block:
    """A plain_text object: shown as it is, never escaped."""
    return {"type": "plain_text", "text": text}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(cut(text, 3000))}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(cut(text, 3000))]}


def cut(text: str, limit: int) -> str:
    """mrkdwn shortened to `limit` characters without splitting an entity or a `<…>` token."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp, lt = head.rfind("&"), head.rfind("<")
    if amp > head.rfind(";"):
        head = head[:amp]
    if lt > head.rfind(">"):
        head = head[:lt]
    return head + "…"


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text[:75]),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element
