"""Redaction, error templates and Slack size limits: nothing secret posted, nothing cut silently."""

from __future__ import annotations

from bot.actions.output import MAX_BLOCKS, MAX_SECTION, Result, Section, fit
from bot.diagnostics.logpatterns import group_errors, normalise
from bot.diagnostics.service import _slug
from bot.runtime.redaction import redact


def test_redaction_covers_common_secret_shapes() -> None:
    samples = {
        "Authorization: Bearer eyJhbGciOi.x.y": "eyJhbGciOi",
        "connect postgres://app:pa55word@db:5432/orders": "pa55word",
        "api_key=sk-live-abcdefghijklmnopqrstuv": "sk-live",
        '{"password": "hunter2", "user": "bob"}': "hunter2",
        "AWS AKIAABCDEFGHIJKLMNOP used": "AKIAABCDEFGHIJKLMNOP",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789": "ghp_",
        "slack xoxb-123-456-abcdef": "xoxb-123",
        "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBg\n-----END PRIVATE KEY-----": "MIIBVAIBADANBg",
        "X-Api-Key: 12345abcdef": "12345abcdef",
    }
    for text, secret in samples.items():
        assert secret not in redact(text), text
    assert redact("GET /healthz 200 in 3ms") == "GET /healthz 200 in 3ms"
    assert "bob" in redact('{"password": "hunter2", "user": "bob"}')


def test_error_lines_grouped_into_templates_with_counts_and_times() -> None:
    lines = [
        ("p1", "2026-01-01T10:00:00Z ERROR user 42 not found (id=9f8e7d6c5b4a3f2e)"),
        ("p2", "2026-01-01T10:00:05Z ERROR user 7 not found (id=0123456789abcdef)"),
        ("p1", "2026-01-01T10:00:06Z INFO fine"),
        ("p1", "2026-01-01T10:00:09Z ERROR user 1 not found (id=aaaaaaaaaaaaaaaa)"),
        ("p2", "2026-01-01T10:01:00Z FATAL connection refused to 10.0.0.1:5432"),
    ]
    groups = group_errors(lines)
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].template == "ERROR user <n> not found (id=<hex>)"
    assert (groups[0].first_seen, groups[0].last_seen) == (
        "2026-01-01T10:00:00Z", "2026-01-01T10:00:09Z",
    )  # fmt: skip
    assert (
        normalise("req 3f2c1a9e-1111-2222-3333-444455556666 took 35ms") == "req <uuid> took <dur>"
    )


def test_fit_keeps_within_slack_limits_and_moves_the_rest_to_a_file() -> None:
    result = Result("Big", headline=["line"])
    result.sections = [Section(f"part {i}", "x" * 100) for i in range(80)]
    result.sections.append(Section("huge", "\n".join("y" * 99 for _ in range(100)), code=True))
    fitted = fit(result, "big")
    assert len(fitted.blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION for b in fitted.blocks if "text" in b)
    details = [f for f in fitted.files if f.filename == "big-details.txt"]
    assert len(details) == 1
    content = str(details[0].content)
    # Every section that is not fully in a block is fully in the file.
    assert "== part 79 ==" in content and "y" * 99 in content
    note = fitted.blocks[-1]["elements"][0]["text"]
    assert "did not fit" in note and "big-details.txt" in note


def test_long_section_is_shortened_with_a_note_and_kept_whole_in_the_file() -> None:
    result = Result(
        "Logs", sections=[Section("tail", "\n".join(f"l{i}" * 30 for i in range(200)), True)]
    )
    fitted = fit(result, "logs")
    shown = fitted.blocks[1]["text"]["text"]
    assert len(shown) <= MAX_SECTION and "whole section is in the attached file" in shown
    assert "l199" in str(fitted.files[0].content)


def test_small_result_has_no_file() -> None:
    fitted = fit(Result("Small", headline=["ok"], sections=[Section("a", "b")]), "s")
    assert fitted.files == [] and len(fitted.blocks) == 2


def test_a_long_untitled_table_is_cut_without_a_stray_bold_marker() -> None:
    """`/incident events` posts one untitled table under its title; cut for length, it showed
    a lone `**` line above the table (an empty bold title), and its file a `==  ==` header."""
    rows = "\n".join(
        f"Warning  BackOff  pod/task-service-{i:05d}  ×4  4m ago  Back-off" for i in range(200)
    )
    result = Result("Events", headline=["3 warnings"], sections=[Section("", rows, code=True)])
    fitted = fit(result, "events")
    shown = fitted.blocks[1]["text"]["text"]
    assert shown.startswith("```Warning") and "whole section is in the attached file" in shown
    assert "**" not in "".join(b["text"]["text"] for b in fitted.blocks if "text" in b)
    assert str(fitted.files[0].content).startswith("== Events ==\nWarning")


def test_a_file_s_name_says_the_action_once() -> None:
    """The namespace's events went into `events-events-in-sandbox-orion-prod-details.txt`."""
    assert _slug("events", "events in sandbox/orion-prod") == "events-in-sandbox-orion-prod"
    assert _slug("diagnose", "checkout in sandbox/orion-prod") == (
        "diagnose-checkout-in-sandbox-orion-prod"
    )
