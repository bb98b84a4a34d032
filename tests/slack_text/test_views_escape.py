"""Every Block Kit view, rendered from records full of hostile words (a title, an alert, a pod's
state, a playbook line): read as Slack reads it, nothing pings or links anywhere Fireline did
not mean, the words show as written, and plain_text (headers, buttons) is not double-escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alerts import digest
from bot.alerts import views as alert_views
from bot.alerts.store import AlertGroup, AlertState
from bot.checklists import views as checklist_views
from bot.checklists.models import Answer, ChecklistSpec, PostedChecklist
from bot.incident import (
    Incident,
    Role,
    Severity,
    TimelineEntry,
    add_note,
    declared_entry,
    pinned_entry,
    post_update,
    resolve,
)
from bot.incidents import report
from bot.incidents import views as incident_views
from bot.playbooks import views as playbook_views
from bot.remediation import messages as remediation_messages
from bot.remediation import views as remediation_views
from bot.remediation.actions.base import Change, Plan
from bot.remediation.store import Record, State
from bot.sandbox.doubles.slack import mrkdwn as slack

HOSTILE = "<!channel> & <https://evil.example|sso.example.com>"
EVERYONE = "<!everyone> look"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB = "U0ALICE01", "U0BOB0002"


def assert_safe(text: str, *, people: tuple[str, ...] = ()) -> None:
    """Slack would notify only `people` (by ID) and follow no link to the hostile host."""
    assert [n for n in slack.notifies(text) if n not in {f"@{p}" for p in people}] == [], text
    assert not any("evil.example" in url for url in slack.links(text)), text


def assert_message_safe(text: str, blocks: list[dict[str, Any]], shows: str = HOSTILE) -> str:
    message = {"text": text, "blocks": blocks}
    for mrkdwn in slack.mrkdwn_texts(message):
        assert_safe(mrkdwn, people=(ALICE, BOB))
    for plain in slack.plain_texts(message):
        assert "&lt;" not in plain and "&amp;" not in plain, plain  # never double-escaped
    shown = slack.message_shown(message)
    assert shows in shown
    return shown


def hostile_incident() -> Incident:
    return Incident(
        id="INC-7",
        number=7,
        title=HOSTILE,
        severity=Severity.P1,
        reporter=ALICE,
        roles={Role.COMMANDER: BOB},
        service=EVERYONE,
        description=HOSTILE,
        created_at=T0,
        last_update=f"update: {HOSTILE}",
        last_update_at=T0,
        summary=HOSTILE,
        channel_id="C0INC0007",
    )


def test_the_card_topic_announcement_and_list_show_the_title_and_ping_no_one() -> None:
    incident = hostile_incident()
    card = incident_views.card(incident, T0)
    shown = assert_message_safe(incident_views.card_text(incident), card)
    assert EVERYONE in shown and f"update: {HOSTILE}" in shown
    assert any(b["type"] == "header" and HOSTILE in b["text"]["text"] for b in card)
    topic = incident_views.topic(incident)
    assert_safe(topic, people=(BOB,))
    assert HOSTILE in slack.shown(topic) and len(topic) <= 250
    assert_message_safe(*incident_views.announcement(incident))
    assert_message_safe(*incident_views.status_update(incident, ALICE, HOSTILE))
    listing = incident_views.incident_list([incident])
    assert_safe(listing, people=(BOB,))
    assert HOSTILE in slack.shown(listing)


def test_a_long_title_cut_for_the_topic_never_splits_an_escape() -> None:
    incident = hostile_incident().model_copy(update={"title": "&" * 400})
    topic = incident_views.topic(incident)
    assert len(topic) <= 250
    assert set(slack.shown(topic).split(": ", 1)[1].rstrip("…")) == {"&"}


def test_timeline_entries_are_escaped_where_they_are_made() -> None:
    incident = hostile_incident()
    entries: list[TimelineEntry] = [declared_entry(incident)]
    entries += add_note(incident, ALICE, HOSTILE, T0)[1]
    entries += post_update(incident, ALICE, EVERYONE, T0)[1]
    entries += resolve(incident, BOB, HOSTILE, T0)[1]
    entries.append(pinned_entry(BOB, ALICE, "ping <!here> and <@U0BOB0002>, <https://e.x|y>", T0))
    text = incident_views.timeline_text(incident, entries)
    assert_safe(text, people=(ALICE, BOB))
    shown = slack.shown(text)
    assert HOSTILE in shown and EVERYONE in shown
    assert "ping @here and @U0BOB0002, y" in shown


def test_the_report_is_markdown_that_shows_what_people_typed() -> None:
    incident = hostile_incident().model_copy(update={"followups": ["[click](https://evil.x)"]})
    entries = [declared_entry(incident), *add_note(incident, ALICE, "a < b & c", T0)[1]]
    text = report.render(incident, entries, T0, {ALICE: "alice", BOB: "<b>bob</b>"})
    assert "<" not in text.replace("\\<", "")  # no HTML, no autolink
    assert "](" not in text.replace("\\](", "")  # no Markdown link
    assert "\\<!channel\\> \\& \\<https://evil.example|sso.example.com\\>" in text
    assert "a \\< b \\& c" in text and "by @alice" in text and "\\<b\\>bob\\</b\\>" in text
    assert "&lt;" not in text and "&amp;" not in text


def hostile_group() -> AlertGroup:
    labels = {"alertname": EVERYONE, "deployment": HOSTILE, "namespace": "orion-prod"}
    return AlertGroup(
        group_id="g1",
        group_key="k",
        channel="C0ALERTS1",
        title=HOSTILE,
        severity="<!here>",
        summary=HOSTILE,
        common_labels=labels,
        generator_url="javascript:alert(1)",
        runbook_url="https://runbooks.example/x?a=1&b=2",
        external_url="https://evil.example|sso.example.com",
        alerts={
            "f1": AlertState(
                fingerprint="f1",
                status="firing",
                labels={**labels, "pod": "<!channel>"},
                summary=EVERYONE,
                starts_at=T0,
            )
        },
        acknowledged_by=ALICE,
        created_at=T0,
        updated_at=T0,
    )


def test_an_alert_thread_parent_reply_and_digest_show_the_alert_and_ping_no_one() -> None:
    group = hostile_group()
    text, blocks = alert_views.parent(group)
    shown = assert_message_safe(text, blocks)
    assert "`alertname=<!everyone> look`" in shown
    urls = [u for b in blocks for t in slack.mrkdwn_texts({"blocks": [b]}) for u in slack.links(t)]
    assert urls == ["https://runbooks.example/x?a=1&b=2"]  # the one http(s) URL Slack can hold
    assert "Graph (javascript:alert(1))" in shown  # shown as text, never a link
    assert "Alertmanager (https://evil.example|sso.example.com)" in shown
    reply = alert_views.changes(group, group.firing, [])
    assert_safe(reply)
    assert "pod=<!channel>" in slack.shown(reply) and EVERYONE in slack.shown(reply)
    assert_message_safe(*digest.digest([(group, True)], storm_on=True))


def hostile_record(state: State) -> Record:
    plan = Plan(
        action="restart",
        kind="deployment",
        name="checkout",
        cluster="prod",
        namespace="orion-prod",
        resource_version="1",
        uid="u",
        changes=[Change(what=HOSTILE, before="<!here>", after="&")],
        state=f"Running <b> {HOSTILE}",
    )
    return Record(
        id="R-1",
        action="restart",
        params={},
        plan=plan,
        requester=ALICE,
        channel="C0INC0007",
        incident_id="INC-7",
        severity="P1",
        state=state,
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=15),
        approver=BOB,
        decided_by=BOB,
        reason=HOSTILE,
        progress=HOSTILE,
        after=EVERYONE,
    )


def test_the_approval_card_shows_the_targets_words_in_every_state() -> None:
    approvers = remediation_messages.remediation_approvers(("<!channel>",), False)
    for state in State:
        text, blocks = remediation_views.card(hostile_record(state), approvers)
        assert_message_safe(text, blocks, shows=f"Running <b> {HOSTILE}")
    modal = remediation_views.deny_modal(hostile_record(State.PENDING))
    assert_message_safe("", modal["blocks"], shows="restart checkout")


def test_checklists_escape_their_items() -> None:
    spec = ChecklistSpec(minutes=5, title="First <5> minutes & more", items=[HOSTILE, EVERYONE])
    posted = PostedChecklist(
        incident_id="INC-7",
        spec=spec,
        channel="C0INC0007",
        ts="1.0",
        posted_at=T0,
        answers={2: Answer(item=2, kind="done", user=ALICE, at=T0)},
    )
    text, blocks = checklist_views.checklist(
        hostile_incident(), posted, [(posted, 1, HOSTILE)], BOB
    )
    shown = assert_message_safe(text, blocks)
    assert "First <5> minutes & more" in shown and EVERYONE in shown


def test_playbook_guidance_written_with_ampersands_and_placeholders_reads_as_written() -> None:
    from tests.playbooks.world import SHIPPED

    playbook = next(iter(SHIPPED))
    guidance = playbook.guidance.model_copy(
        update={"immediate": ("Scale <deployment> & watch",), "long_term": (HOSTILE,)}
    )
    playbook = playbook.model_copy(update={"title": HOSTILE, "summary": EVERYONE})
    playbook = playbook.model_copy(update={"guidance": guidance})
    text, blocks = playbook_views.guidance(playbook, [], incident="INC-7", notes=[])
    shown = assert_message_safe(text, blocks)
    assert "Scale <deployment> & watch" in shown
    text, blocks = playbook_views.header(playbook, {"deployment": HOSTILE}, ALICE)
    assert_message_safe(text, blocks)
    listing = playbook_views.listing([playbook])
    assert_safe(listing)
    assert "/incident playbook <name> [target] [-n namespace]" in slack.shown(listing)
