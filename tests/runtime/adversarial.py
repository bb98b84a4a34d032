"""Hostile inputs of 1 MB each for every pattern that runs over outside text, and a runner that
checks what comes out. `python -m tests.runtime.adversarial` runs them all and exits non-zero
on a wrong answer; tests/runtime/test_redaction_linear.py runs it under a deadline, and
bench/hostile_input_bench.py times the same inputs.

Each input repeats the start of some rule (or of a `--grep` pattern's worst case) so that a
backtracking or quadratic pattern would retry from every position: at 1 MB that is ~10^12
steps, hours, where a linear pass takes milliseconds.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.diagnostics.logpatterns import group_errors
from bot.runtime.patterns import user_pattern
from bot.runtime.redaction import REDACTED, redact

MB = 1 << 20
# Planted after every input: the rules must still work after a megabyte of junk.
PLANTED = "\nretry password=hunter2 with AKIAIOSFODNN7EXAMPLE\n"
PLANTED_SECRETS = ("hunter2", "AKIAIOSFODNN7EXAMPLE")


def fill(unit: str, size: int = MB) -> str:
    return (unit * (size // len(unit) + 1))[:size]


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    # Text that must be gone from the output (beyond the planted secrets); None: the junk
    # holds no secret and must come out exactly as it went in.
    gone: tuple[str, ...] | None = None


def _mixed() -> str:
    pieces = [
        "password", "=", ":", '"', "'", "\\", "://", "@", "/", "a.", "-----BEGIN ",
        "PRIVATE KEY", "Authorization", "Bearer ", "Basic ", "Cookie", "eyJ", "AKIA",
        "xoxb-", "sk_live_", "--token ", " ", "\n", "?sig=", "hooks.slack.com/", "digest ",
    ]  # fmt: skip
    rng = random.Random(13)
    out: list[str] = []
    size = 0
    while size < MB:
        piece = rng.choice(pieces)
        out.append(piece)
        size += len(piece)
    return "".join(out)[:MB]


CASES = (
    Case("finding-5: a.a.a…", fill("a.")),
    Case("key names, no value", fill("password ")),
    Case("key names and separators", fill("password= "), gone=("= p",)),
    Case("many short values", fill("password=x,"), gone=("=x,",)),
    Case("unclosed quotes", fill('password="a '), gone=('="a',)),
    Case("escaped quotes", fill('pw=\\"'), gone=('=\\"pw',)),
    Case("scheme and user, no @", fill("://a:")),
    Case("one password, then no @", "x://u:p@" + fill("a", MB - 8), gone=(":p@",)),
    Case("userinfo everywhere", fill("a://b:@"), gone=(":@a:",)),
    Case("BEGIN without a key", fill("-----BEGIN ")),
    Case("keys without END", fill("-----BEGIN PRIVATE KEY-----\n"), gone=("PRIVATE KEY-----\n-",)),
    Case("authorization, no value", fill("Authorization: "), gone=("n: Authorization",)),
    Case("authorization lines", fill("Authorization: Basic x\n"), gone=("Basic x",)),
    Case("cookies", fill("cookie="), gone=("cookie=cookie",)),
    Case("JWT starts", fill("eyJaaaaa.aaaaa."), gone=("eyJaaaaa.aaaaa.eyJ",)),
    Case("AWS prefixes", fill("AKIA"), gone=("AKIA" * 5,)),
    Case("Slack prefixes", fill("xoxb-"), gone=("xoxb-xoxb",)),
    Case("quotes", fill("\"'")),
    Case("base64 line", fill("A"), gone=("A" * 40,)),
    Case("base64 lines", fill("A" * 50 + "\n"), gone=("A" * 40,)),
    Case("flags, no values", fill("--token ")),
    Case("flags with values", fill(" --password a"), gone=(" --password a --",)),
    Case("webhook hosts", fill("hooks.slack.com/"), gone=("/hooks.slack.com/hooks.slack.com/",)),
    Case("bearer words", fill("bearer "), gone=("bearer bearer",)),
    Case("url signatures", fill("?sig="), gone=("?sig=?sig",)),
    Case("digest", fill("digest username="), gone=("username=digest",)),
    Case("scheme words", fill("token: Basic "), gone=("Basic token: Basic token",)),
    Case("at signs", fill("a@")),
    Case("mixed fragments", _mixed(), gone=()),
)

# `--grep` patterns that freeze a backtracking engine, and lines made to hurt them.
GREP_CASES = (
    ("(.*)*!", fill("a"), False),  # finding 4
    ("(a+)+$", fill("a") + "!", False),
    ("(a|a)*b", fill("a"), False),
    ("(x+x+)+y", fill("x"), False),
    ("(.*a){20}", fill("a"), True),
    ("^(\\w+\\s?)*$", fill("word ") + "!", False),
)

# Lines that hurt the error-template patterns (logpatterns), each one 1 MB long.
TEMPLATE_CASES = (
    fill('ERROR "\\'),
    fill("ERROR 1.1.1.1."),
    fill("ERROR 2026-01-01T00:00:00.1"),
    "ERROR " + fill("a") + "g",
    fill("ERROR 0x"),
)


def check_redaction(case: Case) -> str | None:
    """What is wrong with redacting `case`, or None."""
    output = redact(case.text + PLANTED)
    for secret in PLANTED_SECRETS:
        if secret in output:
            return f"the planted {secret!r} survived"
    if case.gone is None:
        expected = case.text + "\nretry password=[redacted] with [redacted]\n"
        if output != expected and not output.endswith(f"{REDACTED} (private key)"):
            return "the junk was changed though it holds no secret"
    else:
        for piece in case.gone:
            if piece in output:
                return f"{piece!r} survived"
    return None


def check_grep(source: str, line: str, expected: bool) -> str | None:
    found = user_pattern(source).search(line)
    return None if found == expected else f"answered {found}"


def run(report: Callable[[str], None] = print) -> int:
    failures = 0
    for case in CASES:
        started = time.perf_counter()
        problem = check_redaction(case)
        report(f"redact  {case.name:28} {time.perf_counter() - started:7.3f} s  {problem or 'ok'}")
        failures += problem is not None
    for source, line, expected in GREP_CASES:
        started = time.perf_counter()
        problem = check_grep(source, line, expected)
        report(f"grep    {source:28} {time.perf_counter() - started:7.3f} s  {problem or 'ok'}")
        failures += problem is not None
    for line in TEMPLATE_CASES:
        started = time.perf_counter()
        groups = group_errors([("pod", line)])
        problem = None if len(groups) == 1 and groups[0].count == 1 else "not grouped"
        took = time.perf_counter() - started
        report(f"errors  {line[:28]!r:28} {took:7.3f} s  {problem or 'ok'}")
        failures += problem is not None
    report(f"{failures} wrong")
    return failures


if __name__ == "__main__":
    sys.exit(1 if run() else 0)
