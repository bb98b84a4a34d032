"""The log patterns' table counts lines before and after the latest rollout only when the logs
read go back before it: pods newer than the rollout hold nothing from before it, and a column
of zeros would say nothing was logged then."""

from __future__ import annotations

from bot.diagnostics.diagnosis_text import patterns_text
from tests.diagnostics.evidence_kit import evidence, logs, revisions

ERRORS = logs(*((m, 'ERROR upstream "ledger" returned 503') for m in (50, 40, 8, 6, 4, 2)))


def test_logs_reaching_back_before_the_rollout_are_counted_on_each_side() -> None:
    e = evidence(revs=revisions(10, 600), lines=ERRORS, logs_since=55)
    header, row = patterns_text(e).splitlines()
    assert header.split()[4:7] == ["<REV", "2", "≥REV"]
    # first and last seen as ages, then two before rev 2 rolled out, four after
    assert row.split()[2:8] == ["50m", "ago", "2m", "ago", "2", "4"]


def test_logs_all_written_after_the_rollout_have_no_before_column() -> None:
    e = evidence(revs=revisions(10, 600), lines=ERRORS[2:], logs_since=9)
    text = patterns_text(e)
    assert "REV" not in text and text.splitlines()[1].startswith("×4")


def test_one_revision_has_nothing_to_split_at() -> None:
    e = evidence(revs=revisions(600), lines=ERRORS, logs_since=55)
    assert "REV" not in patterns_text(e)
