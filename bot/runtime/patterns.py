"""Regular expressions that run in time linear in the text they search (RE2).

Python's `re` backtracks: `(.*)*!` typed after `--grep`, or one quadratic redaction pattern
meeting a long log line, holds the event loop for minutes, and no timeout can interrupt a
match in progress. RE2 (`google-re2`) compiles to automata and never backtracks, so one search
costs time linear in the text whatever the pattern. Every pattern a person, an alert or a log
line supplies, and every pattern run over text that came from outside, is compiled here. The
price is what RE2 leaves out: backreferences, lookarounds, atomic groups and possessive
quantifiers; a pattern using them is refused with a `PatternError` that says what it used
(docs/decisions/linear-regex.md).

One rule this module cannot enforce: a search is linear, finding *all* matches (`sub`) is
linear only when no match could have run on much further than it did. Patterns given to `sub`
keep that shape (tests/runtime/test_redaction_linear.py holds them to it on 1 MB inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import re2

# A user's pattern is small (`--grep` takes 200 characters); its compiled program stays small.
USER_MAX_MEM = 1 << 20
MAX_MEM = 32 << 20


class Match(Protocol):
    """A match in bytes (`Pattern.sub` works on UTF-8: RE2's own form, and a third as much
    per-match work in google-re2's wrapper as on `str`)."""

    def group(self, index: int = 0, /) -> bytes: ...


class PatternError(ValueError):
    """A pattern RE2 will not run. `kind` names what was wrong (for the sentence the user
    reads); `detail` is RE2's own words."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Pattern:
    """A compiled RE2 pattern: `search` and `sub` with `re`'s meaning, in linear time."""

    source: str
    _regexp: object

    def search(self, text: str | bytes) -> bool:
        return self._regexp.search(text) is not None  # type: ignore[attr-defined]

    def sub(self, replace: Callable[[Match], bytes], data: bytes) -> bytes:
        result: bytes = self._regexp.sub(replace, data)  # type: ignore[attr-defined]
        return result


def _options(*, ignore_case: bool, max_mem: int, capture: bool = True) -> object:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.case_sensitive = not ignore_case
    options.max_mem = max_mem
    # Without groups a search is the DFA alone; with them RE2 runs a slower engine over the
    # whole match to place the groups (still linear, at many times the cost per byte).
    options.never_capture = not capture
    return options


def linear(source: str, *, ignore_case: bool = False, capture: bool = True) -> Pattern:
    """One of Fireline's own patterns; a pattern RE2 refuses is a bug, raised at import."""
    options = _options(ignore_case=ignore_case, max_mem=MAX_MEM, capture=capture)
    return Pattern(source, re2.compile(source, options))


def user_pattern(source: str, *, ignore_case: bool = True) -> Pattern:
    """A pattern from outside (`--grep`, a playbook): compiled by RE2, or `PatternError`."""
    try:
        options = _options(ignore_case=ignore_case, max_mem=USER_MAX_MEM, capture=False)
        return Pattern(source, re2.compile(source, options))
    except re2.error as exc:
        detail = _text(exc)
        raise PatternError(_kind(detail), detail) from None


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _kind(detail: str) -> str:
    """RE2's message → what the person used that RE2 lacks."""
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        return "backreference"
    if "(?P=" in detail or "(?P>" in detail:
        return "backreference"
    if any(op in detail for op in ("(?=", "(?!", "(?<=", "(?<!")):
        return "lookaround"
    if "(?>" in detail or (detail.startswith("bad repetition operator: ") and detail.endswith("+")):
        return "possessive"
    if detail.startswith(("missing )", "unexpected )", "missing ]")):
        return "unbalanced"
    if detail == "invalid escape sequence: \\Z":
        return "end-anchor"
    if detail.startswith("invalid repetition size"):
        return "repetition"
    if detail.startswith("pattern too large"):
        return "too-large"
    return "other"


def escape(text: str) -> str:
    """`text` as an RE2 pattern matching exactly it."""
    escaped: str = re2.escape(text)
    return escaped
