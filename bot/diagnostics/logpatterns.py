"""Log lines grouped into templates, so 400 copies of one failure read as one line with a count.

A template keeps the words of the message and masks only what varies from one copy to the
next: timestamps, UUIDs, IP addresses, hashes and other IDs, durations and numbers. The words of
an error, quoted ones included (`unexpected field "amount_minor"`), are what the responder
needs, so they stay; HTTP statuses (400–599) stay too, being the most telling number in a line.
Lines with the same template are counted, with the first and last time seen, the pods they came
from, and — given the time of the latest rollout — how many came before it and how many after.
Input must already be redacted.

A line is outside text of any length. Only its first `MAX_LINE` characters are looked at (a
template is cut to `MAX_TEMPLATE` characters anyway), so the work per line is bounded whatever
the line, and every pattern here is linear in what it reads (tests/runtime/adversarial.py
holds them to it on 1 MB lines); `logs` and `diagnose` run the grouping in a worker thread
(`diagnose` parses a log of 16 KiB or less on the loop: bot/gateways/kubernetes.py).
Why this and not a template miner (Drain3): docs/decisions/diagnosis.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

MAX_LINE = 4096
MAX_TEMPLATE = 300
MAX_SEEN = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")
# A word of 8+ letters and digits is an ID when it holds digits (a hash, a request or pod ID);
# `0x…` always. Decided per word by a function, so no pattern has to look ahead.
# `_WORD` and `_NUMBER` are `\b0x[0-9a-fA-F]+\b|[A-Za-z0-9_]{8,}` and
# `\b\d+(?:\.\d+)?(?:[kKMGT]i?B?|B)?\b` written to begin with a character (the `\b` before it
# checked just after, as a look-behind): re then skips ahead in C to where one can start, a
# quarter less time a line (the test holds them to the plain forms).
_WORD = re.compile(r"0(?<!\w0)x[0-9a-fA-F]+\b|[A-Za-z0-9_][A-Za-z0-9_]{7,}")
_HEX_LETTERS = re.compile(r"[a-fA-F]+")
_POD_SUFFIX = re.compile(r"<id>-[a-z0-9]{5}\b")
_DURATION = re.compile(
    r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ms|s|m))*\b"
    r"|\b\d+(?:\.\d+)? (?:ns|us|µs|ms|seconds?|secs?)\b"
)
_NUMBER = re.compile(r"\d(?<!\w\d)\d*(?:\.\d+)?(?:[kKMGT]i?B?|B)?\b")
_HTTP_STATUS = re.compile(r"[45]\d\d")
_DIGIT = re.compile(r"\d")
# What each masking pass needs to find anything, looked for first: a pattern that begins with a
# character class skips ahead in C, while one that begins with `\b` (or alternatives) is tried
# at every position (~15-40 µs a pass on a 200-character line). Each is implied by a match of
# its pass, so skipping a pass when it is absent changes no template (a hypothesis test holds
# `normalise` to the passes run unconditionally).
_MAY_BE_TIME = re.compile(r"\d:\d")  # every form holds `HH:MM`
_MAY_BE_UUID = re.compile(r"[0-9a-fA-F]-[0-9a-fA-F]{4}-")
_MAY_BE_IP = re.compile(r"\d\.\d{1,3}\.")
_MAY_BE_DURATION = re.compile(r"\d ?[nuµmsh]")
_API_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_LEADING_TS = re.compile(r"^(?:\[?<ts>\]? ?)+")

_ERROR_TERMS = (
    r"error|err|fatal|panic|exception|traceback|failed|failure|critical|oomkilled|"
    r"refused|timeout|timed out|5\d\d(?!\s*(?:ms|s|bytes|[kmg]i?b)\b)"
)
_WARN_TERMS = r"warn|warning|429|exhausted|throttl\w*|slow|retry(?:ing)?"
ERROR_WORDS = re.compile(rf"(?i)\b({_ERROR_TERMS})\b")
WARN_WORDS = re.compile(rf"(?i)\b({_WARN_TERMS})\b")
# `level` runs on every line diagnose reads. On ASCII text (nearly every log line) it lowercases
# once and matches these, which need no case-folding; and only when a line holds a fragment of
# one of the words (`_HINT`, a plain search that skips ahead): most lines hold none. Together a
# fifth to a third of the cost of the case-insensitive patterns on each line (measured on the
# bench's lines and on JSON access-log lines; docs/benchmarks.md).
_ERROR_LOWER = re.compile(rf"\b(?:{_ERROR_TERMS})\b")
_WARN_LOWER = re.compile(rf"\b(?:{_WARN_TERMS})\b")
_ERROR_HINT = re.compile(
    r"err|fatal|panic|exception|traceback|fail|critical|oomkilled|refused|time|5\d\d"
)
_WARN_HINT = re.compile(r"warn|429|exhausted|throttl|slow|retr")


def _word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isalpha():  # letters only, as most words are: checked in C, no digit counted
        return "<hex>" if len(word) >= 12 and _HEX_LETTERS.fullmatch(word) else word
    if word.startswith(("0x", "0X")):
        return "<hex>"
    digits = sum(c.isdigit() for c in word)
    if digits == len(word):
        return word  # a plain number: `_NUMBER` masks it
    if len(word) >= 12 and all(c in "0123456789abcdefABCDEF" for c in word):
        return "<hex>"  # no English word is 12 letters of a–f
    return word if digits == 0 else "<id>"


def _number(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _HTTP_STATUS.fullmatch(text) else "<n>"


def normalise(line: str) -> str:
    """The template of one line: its words kept, what varies masked, a leading timestamp
    dropped (every line has one). A pass that cannot match (no digit, no `:`) is skipped."""
    line = line[:MAX_LINE]
    digits = _DIGIT.search(line) is not None
    if digits and _MAY_BE_TIME.search(line):
        line = _TIMESTAMP.sub("<ts>", line)
    if digits and _MAY_BE_UUID.search(line):
        line = _UUID.sub("<uuid>", line)
    if digits and _MAY_BE_IP.search(line):
        line = _IP.sub("<ip>", line)
    line = _WORD.sub(_word, line)
    if "<id>-" in line:
        line = _POD_SUFFIX.sub("<id>", line)
    if digits:
        if _MAY_BE_DURATION.search(line):
            line = _DURATION.sub("<dur>", line)
        line = _NUMBER.sub(_number, line)
    line = _LEADING_TS.sub("", " ".join(line.split()))
    return line[:MAX_TEMPLATE]


def level(line: str) -> str:
    """`error`, `warning` or `info`, from the words of the line."""
    head = line[:MAX_LINE]
    if not head.isascii():  # case-folding beyond ASCII: the patterns themselves
        if ERROR_WORDS.search(head):
            return "error"
        return "warning" if WARN_WORDS.search(head) else "info"
    low = head.lower()
    if _ERROR_HINT.search(low) and _ERROR_LOWER.search(low):
        return "error"
    if _WARN_HINT.search(low) and _WARN_LOWER.search(low):
        return "warning"
    return "info"


def is_error(line: str) -> bool:
    return level(line) == "error"


def message(line: str) -> str:
    """A line without the API's timestamp prefix, its spaces collapsed: what it says."""
    stamp = _API_STAMP.match(line)
    return " ".join((line[stamp.end() :] if stamp is not None else line).split())


def line_time(line: str) -> datetime | None:
    """The first timestamp of a line (the API's `timestamps=true` prefix), if it parses."""
    stamp = _TIMESTAMP.search(line[:64])
    if stamp is None:
        return None
    text = stamp.group(0).replace(",", ".").replace(" ", "T", 1)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None


@dataclass
class Template:
    template: str
    count: int
    first_seen: str  # the first line's timestamp, or its position
    last_seen: str
    latest: str
    """The last line seen, as read (redacted): what the template stands for, with its numbers."""
    level: str = "error"
    first_at: datetime | None = None
    last_at: datetime | None = None
    before: int = 0
    """Lines before the split (the latest rollout); lines without a time count in neither."""
    after: int = 0
    sources: set[str] = field(default_factory=set)
    """The pods (or files) the lines came from."""


class Classified(NamedTuple):
    """One line, read once: its level and template worked out (the costly part, done where the
    line was read), so grouping is only counting. A tuple: `diagnose` makes hundreds a run."""

    at: datetime | None
    order: datetime
    """`at`, or the time of the line before it: where the line falls among other pods'."""
    source: str
    position: int
    text: str
    level: str
    template: str
    when: str


_SHORT_STAMP = len("2026-11-22T11:40:00Z ")


def short_stamp(line: str) -> str:
    """The API's `timestamps=true` prefix cut to the second (nanoseconds only add width). Cut
    by slicing: a replacement template is expanded in Python for each line."""
    stamp = _API_STAMP.match(line)
    if stamp is None or stamp.end() == _SHORT_STAMP:
        return line
    return line[:19] + line[stamp.end() - 2 :]


def classify(
    source: str,
    lines: Iterable[str],
    *,
    levels: tuple[str, ...] = ("error",),
    seen: dict[str, tuple[str, str]] | None = None,
    shown: list[str] | None = None,
) -> list[Classified]:
    """One source's lines of `levels`, classified. `seen` (body → level, template) may be shared
    by the sources of one reading: lines repeat word for word across pods once the API's
    timestamp is off, and each is normalised once. `shown`, when given, receives each line that
    is not blank as it is shown (`short_stamp`).

    Every line is read (its time places the lines after it), but only those of `levels` become
    a `Classified`: this runs over every line `diagnose` reads, so the API's stamp is matched
    once per line, here, for both."""
    cache: dict[str, tuple[str, str]] = {} if seen is None else seen
    out: list[Classified] = []
    order = _EPOCH
    position = 0
    for line in lines:
        if not line or line.isspace():
            continue
        stamp = _API_STAMP.match(line)
        if stamp is not None:
            if stamp.end() != _SHORT_STAMP:
                line = line[:19] + line[stamp.end() - 2 :]
            at = _stamp_time(line[:_SHORT_STAMP])
            body = line[_SHORT_STAMP:MAX_LINE]
        else:
            body = line[:MAX_LINE]
            at = line_time(body)
        if shown is not None:
            shown.append(line)
        if at is not None:
            order = at
        kind, key = _known(body, levels, cache)
        if kind in levels:
            when = line[: _SHORT_STAMP - 1] if stamp is not None else _when(body, source, position)
            out.append(Classified(at, order, source, position, line[:MAX_LINE], kind, key, when))
        position += 1
    return out


def _known(
    body: str, levels: tuple[str, ...], cache: dict[str, tuple[str, str]]
) -> tuple[str, str]:
    """A line body's level and template (empty unless of `levels`: never normalised then)."""
    known = cache.get(body)
    if known is None:
        kind = level(body)
        known = (kind, normalise(body) if kind in levels else "")
        if len(cache) >= MAX_SEEN:
            cache.clear()
        cache[body] = known
    return known


def _when(text: str, source: str, position: int) -> str:
    found = _TIMESTAMP.search(text)
    return found.group(0).strip() if found else f"{source} line {position + 1}"


def _read(
    text: str, levels: tuple[str, ...], cache: dict[str, tuple[str, str]]
) -> tuple[re.Match[str] | None, datetime | None, str, str]:
    """A line's API stamp, time, level and template (empty unless of `levels`)."""
    stamp = _API_STAMP.match(text)
    if stamp is not None:
        body, at = text[stamp.end() :], _stamp_time(stamp.group(0))
    else:
        body, at = text, line_time(text)
    kind, key = _known(body, levels, cache)
    return stamp, at, kind, key


@functools.lru_cache(maxsize=8192)
def _stamp_time(stamp: str) -> datetime | None:
    """The time of an API stamp (`2026-11-22T11:40:00Z `, to the second or finer). Remembered:
    a busy pod writes many lines a second, and the pods of a deployment log the same seconds."""
    try:
        return datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def in_order(*sources: list[Classified]) -> list[Classified]:
    """Several sources' classified lines merged by time (then source, then position)."""
    merged = [line for source in sources for line in source]
    merged.sort(key=lambda c: (c.order, c.source, c.position))
    return merged


def aggregate(lines: Iterable[Classified], *, split_at: datetime | None = None) -> list[Template]:
    """Classified lines grouped by template, most frequent first; `split_at` (the latest
    rollout) counts each template's lines before and after it. No pattern runs here."""
    groups: dict[str, Template] = {}
    for line in lines:
        at, when = line.at, line.when
        group = groups.get(line.template)
        if group is None:
            group = groups[line.template] = Template(
                line.template, 0, when, when, line.text[:MAX_TEMPLATE], line.level, at, at
            )
        group.count += 1
        group.sources.add(line.source)
        if at is not None:
            if group.first_at is None or at < group.first_at:
                group.first_at, group.first_seen = at, when
            if group.last_at is None or at >= group.last_at:
                group.last_at, group.last_seen = at, when
                group.latest = line.text[:MAX_TEMPLATE]
            if split_at is not None:
                if at < split_at:
                    group.before += 1
                else:
                    group.after += 1
        else:
            group.last_seen, group.latest = when, line.text[:MAX_TEMPLATE]
    return sorted(groups.values(), key=lambda g: (-g.count, g.template))


def group_lines(
    lines: Iterable[tuple[str, str]],
    *,
    levels: tuple[str, ...] = ("error",),
    split_at: datetime | None = None,
) -> list[Template]:
    """`lines` are (source, text), already in order; those of `levels` grouped by template,
    most frequent first. `split_at` (the latest rollout) counts each template's lines before
    and after it."""
    seen: dict[str, tuple[str, str]] = {}
    classified: list[Classified] = []
    for index, (source, line) in enumerate(lines):
        text = line[:MAX_LINE]
        stamp, at, kind, key = _read(text, levels, seen)
        if kind in levels:
            when = stamp.group(0).strip() if stamp else _when(text, source, index)
            classified.append(Classified(at, at or _EPOCH, source, index, text, kind, key, when))
    return aggregate(classified, split_at=split_at)


def group_errors(lines: list[tuple[str, str]]) -> list[Template]:
    """`lines` are (source, text); error lines grouped by template, most frequent first."""
    return group_lines(lines)
