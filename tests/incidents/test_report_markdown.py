"""The post-incident report as a reader sees it once a Markdown viewer has rendered it.

Code Slack showed (a log template in a diagnostic's finding, a command typed in backticks)
reads as the same code in the report: Markdown shows a code span's text as it is, so nothing
in it is backslash-escaped (the report once showed `500 \\<dur\\> error="…\\\\"amount_minor…`);
outside code, what a viewer would act on still is (no HTML, no link, no stray code span).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.diagnostics import messages as diagnostics_messages
from bot.diagnostics.findings import counted
from bot.diagnostics.logpatterns import Template
from bot.incident import Incident, Role, Severity, TimelineEntry
from bot.incidents import report

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = "U0ALICE01"
# A log line's template: `<` from the duration placeholder, quotes, backslashes, a backtick.
TEMPLATE = r'500 <dur> error="payment: unexpected field \"amount_minor\" in `v2`" path=C:\tmp'


def read(markdown: str) -> tuple[str, list[str], list[Token]]:
    """What a CommonMark viewer shows: the text, the code spans' texts, every inline token."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    inline = [child for t in tokens if t.type == "inline" for child in t.children or []]
    blocks = [t for t in tokens if t.type in {"fence", "code_block", "html_block"}]
    text = "".join(t.content if t.type in {"text", "code_inline"} else "\n" for t in inline)
    return text, [t.content for t in inline if t.type == "code_inline"], inline + blocks


def incident(**changes: object) -> Incident:
    fields: dict[str, object] = {
        "id": "INC-7",
        "number": 7,
        "title": "Checkout `500`s after the <v2> rollout",
        "severity": Severity.P1,
        "reporter": ALICE,
        "roles": {Role.COMMANDER: ALICE},
        "service": "checkout",
        "description": "",
        "created_at": T0,
        "channel_id": "C0INC0007",
        **changes,
    }
    return Incident.model_validate(fields)


def diagnostic_entry(template: str) -> TimelineEntry:
    finding = counted(
        Template(template=template, count=312, first_seen="", last_seen="", latest="")
    )
    text = diagnostics_messages.timeline_action(
        ALICE, "diagnose", "checkout", "ok", f"Errors since rev 3 rolled out: {finding}"
    )
    return TimelineEntry(at=T0, actor=ALICE, kind="diagnostic", text=text)


def test_a_log_template_in_the_timeline_reads_as_slack_showed_it_with_no_backslashes() -> None:
    markdown = report.render(incident(), [diagnostic_entry(TEMPLATE)], T0, {ALICE: "alice"})
    text, code, tokens = read(markdown)
    # Slack shows the template in a code span, its backtick as ' (a code span cannot hold one).
    shown = TEMPLATE.replace("`", "'")
    assert shown in code, code
    assert (
        f"@alice ran diagnose on checkout: ok — Errors since rev 3 rolled out: {shown} ×312" in text
    )
    assert "\\<" not in text and '\\"amount_minor\\\\"' not in text
    # The title's code and its <v2> as typed; nothing became HTML or a link.
    assert "500" in code and "Checkout 500s after the <v2> rollout" in text
    assert not [t for t in tokens if t.type in {"html_inline", "html_block", "link_open"}]


def test_typed_code_holding_backticks_is_fenced_longer_than_any_run_in_it() -> None:
    typed = "Rolled back; the bad line was ```error=`amount_minor` <dur> \\ ``x`` y"
    summary = f"{typed}``` and [the runbook](https://evil.example) <b>said</b> & so on"
    markdown = report.render(incident(summary=summary), [], T0, {ALICE: "alice"})
    text, code, tokens = read(markdown)
    assert "error=`amount_minor` <dur> \\ ``x`` y" in code, code
    assert "```error=`amount_minor`" in markdown  # a fence of 3: the text holds a run of 2
    assert " and [the runbook](https://evil.example) <b>said</b> & so on" in text
    assert not [t for t in tokens if t.type in {"html_inline", "html_block", "link_open"}]


@pytest.mark.parametrize(
    "code", ["`", "``a``", " padded ", "a ` b", "x\\y", "<dur>", "   ", "`edge", "edge`"]
)
def test_a_code_span_shows_its_text_exactly(code: str) -> None:
    _, shown, _ = read(f"see {report.code_span(code)} here")
    assert shown == [code]
