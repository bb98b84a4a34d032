"""Error lines grouped into templates, so 400 copies of one failure read as one line with a count.

Numbers, hex IDs, UUIDs, IP addresses, quoted values and timestamps are normalised to
placeholders; lines with the same template are counted with their first and last occurrence.
Input must already be redacted.

A line is outside text of any length. Only its first `MAX_LINE` characters are looked at (a
template is cut to 300 characters anyway), so the work per line is bounded whatever the line,
and every pattern here is linear in what it reads; `logs` runs the grouping in a worker thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 4096

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_RULES = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|%|[kKMG]i?B?)?\b"), "<n>"),
    # Escapes are not honoured: with them, a line of `"\"\"\"…` costs 200 steps per quote.
    (re.compile(r"\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'"), "<str>"),
)
ERROR_WORDS = re.compile(
    r"(?i)\b(error|err|fatal|panic|exception|traceback|failed|failure|critical|oomkilled|"
    r"refused|timeout|timed out|5\d\d)\b"
)


@dataclass
class Template:
    template: str
    count: int
    first_seen: str  # the first line's timestamp, or its position
    last_seen: str
    example: str


def normalise(line: str) -> str:
    line = _TIMESTAMP.sub("<ts>", line[:MAX_LINE])
    for pattern, placeholder in _RULES:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())[:300]


def is_error(line: str) -> bool:
    return bool(ERROR_WORDS.search(line[:MAX_LINE]))


def group_errors(lines: list[tuple[str, str]]) -> list[Template]:
    """`lines` are (source, text); error lines grouped by template, most frequent first."""
    groups: dict[str, Template] = {}
    for index, (source, line) in enumerate(lines):
        text = line[:MAX_LINE]
        if not is_error(text):
            continue
        stamp = _TIMESTAMP.search(text)
        when = stamp.group(0) if stamp else f"{source} line {index + 1}"
        key = normalise(text)
        group = groups.get(key)
        if group is None:
            groups[key] = Template(key, 1, when, when, text[:300])
        else:
            group.count += 1
            group.last_seen = when
    return sorted(groups.values(), key=lambda g: -g.count)
