"""No "pod(s)" in anything Fireline writes: a count says "1 pod" or "3 pods" (`blockkit.counted`).

The grammar test (`test_messages_grammar.py`) reads the sentences of the `messages` modules;
many texts are built elsewhere (action headlines, remediation previews, the CLI's output), so
this test reads the source instead: every string literal of `bot/` and `handlers/`, f-string
parts included, that has a word followed by "(s)" fails, named by file:line. A bare string
statement (a docstring, a field's docstring) is never shown, so it is skipped; comments are not
in the syntax tree. The Kubernetes and Slack doubles (`bot/sandbox/doubles/`) are skipped:
they reproduce what the real APIs say, "Port(s)" and "node(s) were unschedulable" included.
A planted source proves the scan can fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import bot
import handlers

ROOTS = (Path(bot.__file__).parent, Path(handlers.__file__).parent)
SKIPPED = Path(bot.__file__).parent / "sandbox" / "doubles"
# A word then "(s)"; or "(s)" opening a literal, after a `{noun}` or a `noun + "(s)"`.
_LAZY_PLURAL = re.compile(r"\w\(s\)|^\(s\)")
_NOT_PLURALS = ("http(s)",)  # the scheme, as in "an http(s) URL"


def lazy_plurals(source: str, filename: str) -> list[str]:
    """`file:line: 'literal'` for each string literal of `source` with a lazy plural."""
    tree = ast.parse(source, filename)
    unsaid = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in unsaid:
            continue
        text = node.value
        for allowed in _NOT_PLURALS:
            text = text.replace(allowed, "")
        if _LAZY_PLURAL.search(text):
            found.append((node.lineno, node.value))
    return [f"{filename}:{line}: {text!r}" for line, text in sorted(found)]


def _sources() -> list[Path]:
    return sorted(
        path for root in ROOTS for path in root.rglob("*.py") if not path.is_relative_to(SKIPPED)
    )


def test_the_scan_reads_the_code() -> None:
    paths = _sources()
    assert any(p.name == "cli.py" for p in paths) and any("handlers" in p.parts for p in paths)
    assert not any(p.is_relative_to(SKIPPED) for p in paths)


def test_no_literal_says_a_lazy_plural() -> None:
    base = ROOTS[0].parent
    found = [
        hit
        for path in _sources()
        for hit in lazy_plurals(path.read_text(encoding="utf-8"), str(path.relative_to(base)))
    ]
    assert found == [], "write counted(n, 'pod') (bot.blockkit), not pod(s):\n" + "\n".join(found)


PLANTED = '''\
"""Restarts pod(s): a docstring, never shown."""


def restarted(n: int, noun: str) -> str:
    """Says how many pod(s) restarted (a docstring too)."""
    # pod(s) in a comment
    if n > 9:
        return f"{noun}(s) restarted"
    link = "an http(s) URL"
    return f"{n} pod(s) restarted " + link


class Params:
    namespace: str
    """Where the pod(s) live (a field's docstring)."""
    pattern: str = "problem(s)"
'''


def test_the_scan_catches_a_planted_lazy_plural() -> None:
    assert lazy_plurals(PLANTED, "planted.py") == [
        "planted.py:8: '(s) restarted'",
        "planted.py:10: ' pod(s) restarted '",
        "planted.py:16: 'problem(s)'",
    ]
