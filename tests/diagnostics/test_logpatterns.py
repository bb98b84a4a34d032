"""Log templates keep the words of a message and mask only what varies; grouped with counts,
first and last seen, the pods they came from, and counts before and after the latest rollout."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.diagnostics import logpatterns
from bot.diagnostics.logpatterns import (
    ERROR_WORDS,
    MAX_LINE,
    MAX_TEMPLATE,
    WARN_WORDS,
    Template,
    aggregate,
    classify,
    group_lines,
    in_order,
    level,
    line_time,
    normalise,
)


def test_the_words_of_the_error_are_kept_quoted_ones_included() -> None:
    line = (
        '2026-11-22T11:40:00Z ERROR "POST /api/checkout" 500 1203ms error="payment provider: '
        'unexpected field \\"amount_minor\\" in v2 response"'
    )
    assert normalise(line) == (
        'ERROR "POST /api/checkout" 500 <dur> error="payment provider: unexpected field '
        '\\"amount_minor\\" in v2 response"'
    )


def test_what_varies_is_masked() -> None:
    cases = {
        "req 3f2c1a9e-1111-2222-3333-444455556666 took 35ms": "req <uuid> took <dur>",
        "connect 10.1.2.3:5432 refused after 1.5s": "connect <ip> refused after <dur>",
        "commit 9f8e7d6c5b4a3f2e and 0xdeadbeef": "commit <hex> and <hex>",
        "job a1b2c3d4e5 of user 42 took 3 seconds": "job <id> of user <n> took <dur>",
        "pod task-service-7d9f8b6c4-x2x4q evicted": "pod task-service-<id> evicted",
        "pool exhausted (20/20 in use, 57 waiting)": "pool exhausted (<n>/<n> in use, <n> waiting)",
        "[22/Nov/2026:11:59:01 +0000] GET / 502": "GET / 502",
        "queue at 97% of 512Mi": "queue at <n>% of <n>",
    }
    for line, template in cases.items():
        assert normalise(line) == template, line


def test_http_statuses_are_kept_other_numbers_are_not() -> None:
    assert (
        normalise("upstream answered 503 after 3 tries") == "upstream answered 503 after <n> tries"
    )
    assert normalise("status 200 in 512 ms") == "status <n> in <dur>"


def _plain_word(match: re.Match[str]) -> str:
    """`_word` as first written: the digits counted in every word (the shipped one returns an
    all-letter word at once)."""
    word = match.group(0)
    if word.startswith(("0x", "0X")):
        return "<hex>"
    digits = sum(c.isdigit() for c in word)
    if digits == len(word):
        return word
    if len(word) >= 12 and all(c in "0123456789abcdefABCDEF" for c in word):
        return "<hex>"
    return word if digits == 0 else "<id>"


@given(st.from_regex(r"\A(?:0[xX][0-9a-fA-F]+|[A-Za-z0-9_]{8,20})\Z"))
def test_a_word_is_masked_as_the_plain_rule_masks_it(word: str) -> None:
    match = re.fullmatch(r".+", word)
    assert match is not None
    assert logpatterns._word(match) == _plain_word(match)


def test_all_letter_words_stay_unless_they_read_as_hex() -> None:
    assert normalise("upstream returned") == "upstream returned"
    assert normalise("token deadbeefcafe sent") == "token <hex> sent"  # 12 letters of a–f
    assert normalise("decade facade") == "decade facade"  # a–f, but shorter than 12


def _plain_normalise(line: str) -> str:
    """`normalise` as first written: every pass run, the patterns in their plain forms. The
    shipped one skips passes that cannot match and writes two patterns to skip ahead faster;
    neither may change a template."""
    word = re.compile(r"\b0x[0-9a-fA-F]+\b|[A-Za-z0-9_]{8,}")
    number = re.compile(r"\b\d+(?:\.\d+)?(?:[kKMGT]i?B?|B)?\b")
    line = line[:MAX_LINE]
    line = logpatterns._TIMESTAMP.sub("<ts>", line)
    line = logpatterns._UUID.sub("<uuid>", line)
    line = logpatterns._IP.sub("<ip>", line)
    line = word.sub(_plain_word, line)
    line = logpatterns._POD_SUFFIX.sub("<id>", line)
    line = logpatterns._DURATION.sub("<dur>", line)
    line = number.sub(logpatterns._number, line)
    line = logpatterns._LEADING_TS.sub("", " ".join(line.split()))
    return line[:MAX_TEMPLATE]


# Pieces that each pass masks, and near-misses, joined with and without separators so that
# word boundaries fall everywhere: random text alone almost never forms a UUID or a timestamp.
_PIECES = st.sampled_from(
    [
        "2026-12-01T01:00:00.123Z", "2026-12-01 01:00:00,5+01:00", "12:30:45", "1:2:3",
        "22/Nov/2026:10:00:00 +0000", "3f2c1a9e-1111-2222-3333-444455556666", "10.0.0.1:8080",
        "1.2.3", "0xdeadBEEF", "x0x1", "deadbeefcafe12", "deadbeefcafe", "abcdefab", "35ms",
        "1.5s", "2h30m", "512 ms", "3 seconds", "503", "200", "12KiB", "7B", "97", "a1b2c3d4e5",
        "task-service-7d9f8b6c4-x2x4q", "<id>-abcde", "ERROR", "word", "_", "٣٤", "µs", "é",
    ]
)  # fmt: skip
_JOINS = st.sampled_from(["", " ", "-", ":", ".", "/", "=", '"', ",", "  ", "\t", "x", "0"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_PIECES, _JOINS), max_size=8))
def test_normalise_gives_what_every_pass_in_its_plain_form_gives(
    parts: list[tuple[str, str]],
) -> None:
    line = "".join(piece + join for piece, join in parts)
    assert normalise(line) == _plain_normalise(line)


@given(st.text(max_size=120))
def test_normalise_on_any_text_gives_the_plain_passes_template(line: str) -> None:
    assert normalise(line) == _plain_normalise(line)


def test_levels() -> None:
    assert level("ERROR boom") == "error" and level("panic: x") == "error"
    assert level("WARN pool exhausted") == "warning" and level("got 429 from x") == "warning"
    assert level("INFO GET / 200 in 512 ms") == "info"


def test_grouped_with_counts_times_sources_and_the_rollout_split() -> None:
    rollout = datetime(2026, 11, 22, 11, 50, tzinfo=UTC)
    lines = [
        ("pod-a", "2026-11-22T11:40:00Z ERROR user 42 not found (id=9f8e7d6c5b4a3f2e)"),
        ("pod-b", "2026-11-22T11:55:00Z ERROR user 7 not found (id=0123456789abcdef)"),
        ("pod-a", "2026-11-22T11:56:00Z INFO fine"),
        ("pod-b", "2026-11-22T11:58:00Z WARN slow call to ledger (812ms)"),
        ("pod-a", "2026-11-22T11:59:00Z ERROR user 1 not found (id=aaaaaaaaaaaaaaaa)"),
    ]
    groups = group_lines(lines, levels=("error", "warning"), split_at=rollout)
    first, second = groups
    assert (first.template, first.count, first.level) == (
        "ERROR user <n> not found (id=<hex>)", 3, "error",
    )  # fmt: skip
    assert (first.first_seen, first.last_seen) == ("2026-11-22T11:40:00Z", "2026-11-22T11:59:00Z")
    assert (first.before, first.after) == (1, 2) and first.sources == {"pod-a", "pod-b"}
    assert (second.template, second.level) == ("WARN slow call to ledger (<dur>)", "warning")
    assert [g.count for g in group_lines(lines)] == [3]


def test_line_time_reads_the_api_stamp() -> None:
    assert line_time("2026-11-22T11:40:00Z ERROR x") == datetime(2026, 11, 22, 11, 40, tzinfo=UTC)
    assert line_time("ERROR no time here") is None


_STAMPS = st.datetimes(
    min_value=datetime(2026, 11, 22), max_value=datetime(2026, 11, 23), timezones=st.just(UTC)
)
_BODIES = st.sampled_from(
    [
        'ERROR upstream "ledger" returned 503',
        "ERROR job 12 failed after 35ms",
        "WARN pool exhausted (20/20 in use, 7 waiting)",
        "INFO served GET / in 3ms",
        "no timestamp and no level",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["pod-a", "pod-b", "pod-c"]),
        st.lists(st.tuples(st.one_of(st.none(), _STAMPS), _BODIES), max_size=25),
        max_size=3,
    ),
    st.one_of(st.none(), _STAMPS),
)
def test_pods_classified_apart_group_as_all_lines_at_once(
    logs: dict[str, list[tuple[datetime | None, str]]], split: datetime | None
) -> None:
    """diagnose classifies each pod's log as it arrives; merged and counted at the end, the
    templates (counts, first and last seen, pods, the split) are those of grouping every
    line at once in time order."""
    text = {
        pod: [
            f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {body}" if at else body for at, body in lines
        ]
        for pod, lines in logs.items()
    }
    levels = ("error", "warning")
    seen: dict[str, tuple[str, str]] = {}
    apart = aggregate(
        in_order(*(classify(pod, lines, levels=levels, seen=seen) for pod, lines in text.items())),
        split_at=split,
    )
    together = group_lines(
        [(c.source, c.text) for c in in_order(*(classify(p, ls, levels=levels)
                                                for p, ls in text.items()))],
        levels=levels,
        split_at=split,
    )  # fmt: skip

    def facts(templates: list[Template]) -> list[tuple[object, ...]]:
        return [
            (t.template, t.count, t.first_at, t.last_at, t.before, t.after, sorted(t.sources))
            for t in templates
        ]

    assert facts(apart) == facts(together)
    errors = sum(1 for lines in logs.values() for _, b in lines if b.startswith(("ERROR", "WARN")))
    assert sum(t.count for t in apart) == errors


_LEVEL_PIECES = st.sampled_from(
    ["ERROR", "Err", "errors", "FAILED", "Timed Out", "TIMEOUT", "503", "503ms", "503 MiB",
     "503KB", "5030", "x503", "Warn", "WARNING", "429", "Throttled", "Slow", "Retrying",
     "retry", "INFO", "done", "500 bytes", "500s", "panic:", "Exception", "OOMKilled",
     "refused", "critical", "exhausted", "a.500", "_500", "err_x", "İ", "ſlow", "K"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_LEVEL_PIECES, min_size=1, max_size=6),
    st.lists(
        st.sampled_from([" ", "-", "_", ".", ":", "", "\t", "=", '"']), min_size=6, max_size=6
    ),
)
def test_a_lines_level_is_what_the_case_insensitive_word_patterns_say(
    pieces: list[str], separators: list[str]
) -> None:
    """`level` takes shortcuts on ASCII lines (lowercased once, a cheap search first); it must
    say what the case-insensitive patterns say of any line."""
    line = "".join(piece + sep for piece, sep in zip(pieces, separators, strict=False))
    expected = (
        "error" if ERROR_WORDS.search(line) else "warning" if WARN_WORDS.search(line) else "info"
    )
    assert level(line) == expected
