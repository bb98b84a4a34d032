"""Redaction that holds: a corpus of realistic (fake) secrets, each with what must not survive,
and properties: a secret embedded anywhere in random text never survives; ordinary log lines
pass unchanged; every rule is a linear-time (RE2) pattern."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime import redaction
from bot.runtime.patterns import Pattern
from bot.runtime.redaction import REDACTED, redact

CORPUS_FILE = Path(__file__).parent / "data" / "secrets.jsonl"


@dataclass(frozen=True)
class Entry:
    kind: str
    text: str
    secrets: tuple[str, ...]

    def __repr__(self) -> str:  # what hypothesis prints on a failure
        return f"Entry({self.kind!r})"


def _load() -> list[Entry]:
    rows = [json.loads(line) for line in CORPUS_FILE.read_text().splitlines() if line.strip()]
    return [Entry(r["kind"], r["text"], tuple(r["secrets"])) for r in rows]


CORPUS = _load()
SECRETS = [e for e in CORPUS if e.secrets]
BENIGN = [e for e in CORPUS if not e.secrets]


def leaks(secrets: tuple[str, ...], output: str, original: str) -> list[str]:
    """Pieces of a secret (any 8 characters in a row, or all of a shorter one) still in
    `output`, unless the same piece was in the text around the secrets to begin with."""
    around = original
    for secret in secrets:
        around = around.replace(secret, "\0")
    found = []
    for secret in secrets:
        width = min(8, len(secret))
        for i in range(len(secret) - width + 1):
            piece = secret[i : i + width]
            if piece in output and piece not in around:
                found.append(piece)
    return found


def test_the_corpus_covers_every_provider_and_shape_the_issue_names() -> None:
    kinds = {e.kind.split("-")[0] for e in SECRETS}
    assert {"aws", "gcp", "github", "gitlab", "slack", "stripe", "jwt", "pem", "cookie"} <= kinds
    assert {"basic-header", "bearer-header", "token-header", "url-slash-at"} <= {
        e.kind for e in SECRETS
    }
    assert len(SECRETS) >= 80 and len(BENIGN) >= 15


@pytest.mark.parametrize("entry", SECRETS, ids=lambda e: e.kind)
def test_no_secret_of_the_corpus_survives(entry: Entry) -> None:
    output = redact(entry.text)
    assert not leaks(entry.secrets, output, entry.text), output
    assert REDACTED in output


@pytest.mark.parametrize("entry", BENIGN, ids=lambda e: e.text[:40])
def test_ordinary_log_lines_pass_unchanged(entry: Entry) -> None:
    assert redact(entry.text) == entry.text


def test_what_the_finding_named_is_removed_and_the_useful_part_kept() -> None:
    """Issue 13, finding 8, one line each."""
    assert redact("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [redacted]"
    assert redact("Authorization: Token 9944b09199c6") == "Authorization: Token [redacted]"
    assert (
        redact("postgres://app:p@ss/w0rd@db:5432/orders")
        == "postgres://app:[redacted]@db:5432/orders"
    )
    assert (
        redact("https://hooks.slack.com/services/T0/B0/XyZ") == "https://hooks.slack.com/[redacted]"
    )
    assert redact("Cookie: session=abc123; theme=dark") == "Cookie: [redacted]"
    for token in ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "github_pat_11ABCDEFG0_" + "x" * 59):
        assert redact(f"using {token} now") == "using [redacted] now"
    assert redact("key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe") == "key [redacted]"
    # A bare credential followed by more text is not mistaken for a scheme word (a header's
    # value runs to the end of the line or its quote).
    assert redact("authorization=abc123def path=/v1") == "authorization=[redacted]"


def test_configured_secret_values_are_removed_wherever_they_appear() -> None:
    assert redact("x zz-my-signing-secret-zz", ["my-signing-secret"]) == "x zz-[redacted]-zz"


def test_lone_surrogates_pass_through() -> None:
    """A filename decoded with surrogateescape must not make redaction raise."""
    assert redact("file \udcff password=hunter2") == "file \udcff password=[redacted]"


def test_every_rule_is_a_linear_time_pattern() -> None:
    """`re` backtracks; RE2 cannot. A rule added with `re` fails here before it ships."""
    assert redaction.RULES
    for rule in redaction.RULES:
        assert isinstance(rule.pattern, Pattern), rule.name
    assert isinstance(redaction._ANY, Pattern)


# --- properties ------------------------------------------------------------------------------

# Any text a log line or a title might hold, Unicode included.
NOISE = st.text(
    alphabet=st.one_of(
        st.sampled_from(string.printable),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=120,
)
# What stands between a secret and the text around it in logs, JSON, headers and prose.
SEPARATORS = st.sampled_from(
    [" ", "\n", "\t", "\r\n", ", ", "; ", "(", ")", "[", "]", "{", "}", "'", '"', "=", ": ", "|"]
)
PROPERTY = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.slow
@PROPERTY
@given(st.sampled_from(SECRETS), NOISE, SEPARATORS, SEPARATORS, NOISE)
def test_a_secret_anywhere_in_random_text_never_survives(
    entry: Entry, before: str, left: str, right: str, after: str
) -> None:
    text = before + left + entry.text + right + after
    output = redact(text)
    assert not leaks(entry.secrets, output, text), output


@PROPERTY
@given(st.lists(st.sampled_from(SECRETS), min_size=2, max_size=5), st.lists(NOISE, min_size=5))
def test_several_secrets_in_one_text_all_go(entries: list[Entry], noise: list[str]) -> None:
    parts = [f"{noise[i % len(noise)]} {e.text}\n" for i, e in enumerate(entries)]
    text = "".join(parts)
    output = redact(text)
    secrets = tuple(s for e in entries for s in e.secrets)
    assert not leaks(secrets, output, text), output


@PROPERTY
@given(st.text(max_size=300))
def test_redaction_never_raises_and_never_grows_a_clean_text(text: str) -> None:
    output = redact(text)
    if REDACTED not in output:
        assert output == text
