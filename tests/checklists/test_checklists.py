"""Checklists, reminders and escalation as responders meet them, against the Slack double.

Time is a `ManualClock`: tests move it to a mark and wait for the bot to be idle, never sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import blockkit as blocks
from bot.checklists import views as checklist_blocks
from bot.incident import Incident
from tests.clock import ManualClock
from tests.harness import Builder, Harness, eventually, flatten

GROUP = "S0ONCALL1"
FIVE = [
    "Is the issue impacting users right now?",
    "Can we quickly roll back recent changes?",
    "Are our monitoring systems functioning?",
    "Do we have recent backups if needed?",
]
FIFTEEN = [
    "What's the scope of the impact?",
    "Have we notified relevant stakeholders?",
    "Are we collecting diagnostic information?",
    "Have we implemented any temporary fixes?",
]
SIXTY = [
    "Do we understand the root cause?",
    "Have we resolved the immediate issue?",
    "Are we monitoring for related problems?",
    "Have we documented our findings?",
]

Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def start(build: Callable[..., Builder], clock: ManualClock) -> Start:
    """Start a bot (again, for restarts and replicas) on the same Slack, Redis and clock."""
    builder = (
        build()
        .people("alice", "bob", "carol")
        .channel("room", "war-room")
        .channel("broadcast", "incidents", bot_member=False)
        .clock(clock)
    )
    started: list[Harness] = []

    async def make(**overrides: Any) -> Harness:
        overrides.setdefault("oncall_groups", f"P0={GROUP},P1={GROUP}")
        # What follows a declaration nobody has acknowledged (declaring is no ack here).
        overrides.setdefault("declare_acknowledges", False)
        if not started:
            started.append(await builder.settings(**overrides).start())
            return started[0]
        return await started[0].replica(**overrides)

    return make


async def idle(h: Harness, clock: ManualClock) -> None:
    """Wait until every job due by now has run and the bot has finished its Slack work."""
    await h.idle()


async def at_minute(h: Harness, clock: ManualClock, incident: Incident, minutes: float) -> None:
    clock.set(incident.created_at + timedelta(minutes=minutes))
    await idle(h, clock)


def text_of(message: dict[str, Any]) -> str:
    return f"{message.get('text', '')} {flatten(message.get('blocks') or [])}"


def posted(h: Harness, channel: str, marker: str) -> list[dict[str, Any]]:
    return [m for m in h.slack.messages(channel) if m.get("text", "").startswith(marker)]


def update_reminders(h: Harness) -> list[str]:
    """Every update reminder posted (a snoozed one is edited to say so, so count the posts)."""
    texts = [str(c.args.get("text", "")) for c in h.slack.calls("chat.postMessage")]
    return [t for t in texts if t.startswith("📣")]


def checklists(h: Harness, channel: str) -> list[dict[str, Any]]:
    return posted(h, channel, "📋")


async def declared(h: Harness, text: str) -> tuple[Incident, str]:
    incident_id, channel = await h.declare(h.alice, text)
    return await h.app.services.store.get(incident_id), channel


async def click(
    h: Harness,
    user: str,
    channel: str,
    message: dict[str, Any],
    action: str,
    item: int,
    *,
    stale: bool = False,
) -> None:
    await h.slack.click_button(
        user,
        channel,
        message["ts"],
        action,
        block_id=f"item-{item}",
        message=message if stale else None,
    )


async def test_three_checklists_arrive_at_their_marks_with_their_items(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P2 Search is slow")
    await at_minute(h, clock, incident, 4.9)
    assert checklists(h, channel) == []

    for minutes, items in ((5, FIVE), (15, FIFTEEN), (60, SIXTY)):
        await at_minute(h, clock, incident, minutes)
        latest = checklists(h, channel)[-1]
        assert f"First {minutes} minutes" in latest["text"]
        shown = text_of(latest)
        assert all(item in shown for item in items)
        assert "⏱ Posted" not in shown  # on time: no lateness label
    assert len(checklists(h, channel)) == 3
    await at_minute(h, clock, incident, 600)
    assert len(checklists(h, channel)) == 3


async def test_tick_not_applicable_double_click_and_stale_copy_each_count_once(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P2 Login errors")
    await at_minute(h, clock, incident, 5)
    original = checklists(h, channel)[0]

    await click(h, h.bob, channel, original, checklist_blocks.CHECK_DONE, 1)
    await h.told(h.bob, "Recorded: “Is the issue impacting users right now?” is done")
    await eventually(lambda: f"Done — <@{h.bob}>" in text_of(checklists(h, channel)[0]))
    await click(h, h.carol, channel, original, checklist_blocks.CHECK_NA, 4, stale=False)
    await eventually(lambda: f"Not applicable — <@{h.carol}>" in text_of(checklists(h, channel)[0]))

    # Carol still sees the first copy, where item 1 had buttons: her click changes nothing.
    await click(h, h.carol, channel, original, checklist_blocks.CHECK_NA, 1, stale=True)
    await h.told(h.carol, f"was already marked done by <@{h.bob}>")

    # Two people click item 2 at the same moment.
    current = checklists(h, channel)[0]
    await asyncio.gather(
        click(h, h.alice, channel, current, checklist_blocks.CHECK_DONE, 2),
        click(h, h.bob, channel, current, checklist_blocks.CHECK_NA, 2, stale=True),
    )
    await h.settle()

    shown = text_of(checklists(h, channel)[0])
    assert len(checklists(h, channel)) == 1  # edited in place
    assert checklists(h, channel)[0]["ts"] == original["ts"]
    assert shown.count("Done —") + shown.count("Not applicable —") == 3
    entries = await h.app.services.store.timeline(incident.id)
    answered = [e for e in entries if e.kind == "checklist"]
    assert len(answered) == 3
    assert {e.actor for e in answered[:2]} == {h.bob, h.carol}

    _, report = await h.app.services.incidents.render_report(incident.id)
    assert "## Quick-response checklists" in report
    assert "- [x] Is the issue impacting users right now? — done, bob at" in report
    assert "- [-] Do we have recent backups if needed? — not applicable, carol at" in report


@pytest.mark.parametrize(("severity", "mentioned"), [("P1", True), ("P2", False)])
async def test_a_later_mark_lists_what_is_still_open(
    start: Start, clock: ManualClock, severity: str, mentioned: bool
) -> None:
    h = await start()
    incident, channel = await declared(h, f"{severity} Payments failing")
    await h.command(h.bob, "ack", channel)
    await at_minute(h, clock, incident, 5)
    first = checklists(h, channel)[0]
    for item in (1, 2, 3):
        await click(h, h.bob, channel, first, checklist_blocks.CHECK_DONE, item)
    await h.settle()

    await at_minute(h, clock, incident, 15)
    second = checklists(h, channel)[1]
    shown = text_of(second)
    assert "1 item is still open from earlier checklists" in shown
    assert "Do we have recent backups if needed?" in shown.rsplit("still open", 1)[1]
    assert (f"<@{h.alice}>, 1 item is still open" in shown) is mentioned


@pytest.mark.parametrize(
    ("severity", "reminder_at", "escalation_at"), [("P0", 0, 5), ("P1", 15, 20)]
)
async def test_unacknowledged_incidents_are_reminded_then_escalated(
    start: Start, clock: ManualClock, severity: str, reminder_at: int, escalation_at: int
) -> None:
    h = await start()
    incident, channel = await declared(h, f"{severity} Everything is down")
    if reminder_at:
        await at_minute(h, clock, incident, reminder_at - 0.1)
        assert posted(h, channel, "⏰") == []
    # P0's deadline is the declaration itself: the reminder follows as soon as the channel
    # exists (a retry 2 s later when the job ran before the channel was made).
    await at_minute(h, clock, incident, reminder_at + 0.05)
    reminders = posted(h, channel, "⏰")
    assert len(reminders) == 1 and "has not been acknowledged" in reminders[0]["text"]
    assert blocks.ACK in str(reminders[0]["blocks"])

    await at_minute(h, clock, incident, escalation_at - 0.1)
    assert posted(h, channel, "🚨") == []
    await at_minute(h, clock, incident, escalation_at)
    escalations = posted(h, channel, "🚨")
    assert len(escalations) == 1 and f"<!subteam^{GROUP}>" in escalations[0]["text"]
    notices = [m for m in h.slack.messages(h.broadcast) if "escalated to on-call" in m["text"]]
    assert len(notices) == 1 and incident.id in notices[0]["text"]
    entries = await h.app.services.store.timeline(incident.id)
    assert [e.kind for e in entries].count("escalation") == 1


async def test_acknowledging_in_time_stops_reminder_and_escalation(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P1 Checkout slow")
    await at_minute(h, clock, incident, 10)
    await h.command(h.bob, "ack", channel)
    await at_minute(h, clock, incident, 120)
    assert posted(h, channel, "⏰") == [] and posted(h, channel, "🚨") == []


async def test_update_reminders_respect_updates_and_every_snooze(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P0 Database down")
    await h.command(h.bob, "ack", channel)
    await at_minute(h, clock, incident, 14.9)
    assert update_reminders(h) == []
    await at_minute(h, clock, incident, 15)
    assert len(update_reminders(h)) == 1

    await at_minute(h, clock, incident, 20)
    await h.command(h.alice, "update Failover in progress", channel)
    await at_minute(h, clock, incident, 34.9)
    assert len(update_reminders(h)) == 1  # the update reset the clock
    await at_minute(h, clock, incident, 35)
    reminders = posted(h, channel, "📣")  # the ones not snoozed yet
    assert len(update_reminders(h)) == 2

    await h.slack.click_button(
        h.bob, channel, reminders[-1]["ts"], f"{checklist_blocks.SNOOZE}_30m"
    )
    await h.told(h.bob, "snoozed for 30 min")
    await eventually(
        lambda: "snoozed for 30 min" in text_of(h.slack.message(channel, reminders[-1]["ts"]))
    )
    await at_minute(h, clock, incident, 64.9)
    assert len(update_reminders(h)) == 2
    await at_minute(h, clock, incident, 65)
    reminders = posted(h, channel, "📣")  # the ones not snoozed yet
    assert len(update_reminders(h)) == 3

    await h.slack.click_button(h.bob, channel, reminders[-1]["ts"], f"{checklist_blocks.SNOOZE}_1h")
    # Snoozed from when it is handled: handled after the clock's jump, it would count from there.
    await h.told(h.bob, "snoozed for 1 h")
    await at_minute(h, clock, incident, 124.9)
    assert len(update_reminders(h)) == 3
    await at_minute(h, clock, incident, 125)
    reminders = posted(h, channel, "📣")  # the ones not snoozed yet
    assert len(update_reminders(h)) == 4

    await h.slack.click_button(
        h.bob, channel, reminders[-1]["ts"], f"{checklist_blocks.SNOOZE}_resolved"
    )
    await h.told(h.bob, "snoozed until it is resolved")
    await at_minute(h, clock, incident, 600)
    assert len(update_reminders(h)) == 4
    kinds = [e.kind for e in await h.app.services.store.timeline(incident.id)]
    assert kinds.count("snooze") == 3


async def test_resolving_cancels_everything_pending(start: Start, clock: ManualClock) -> None:
    h = await start()
    incident, channel = await declared(h, "P1 Queue backlog")
    await at_minute(h, clock, incident, 5)
    assert len(checklists(h, channel)) == 1
    assert len(await h.app.scheduler.queue.pending(incident.id)) == 5  # 2 marks, ack ×2, update
    await h.command(h.alice, "resolve Drained the queue", channel)
    assert await h.app.scheduler.queue.pending(incident.id) == []
    before = len(h.slack.messages(channel))
    await at_minute(h, clock, incident, 24 * 60)
    assert len(checklists(h, channel)) == 1
    assert posted(h, channel, "📣") == [] and posted(h, channel, "🚨") == []
    assert len(h.slack.messages(channel)) == before


async def test_a_severity_change_reschedules_the_deadlines(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P3 Typo on the pricing page")
    pending = {j.kind for j in await h.app.scheduler.queue.pending(incident.id)}
    assert "update-reminder" not in pending  # P3: no update reminders
    await at_minute(h, clock, incident, 10)
    await h.command(h.alice, "severity P1", channel)
    await at_minute(h, clock, incident, 14.9)
    assert posted(h, channel, "⏰") == []
    await at_minute(h, clock, incident, 15)
    assert len(posted(h, channel, "⏰")) == 1  # P1's 15 minutes, not P3's day
    await at_minute(h, clock, incident, 30)
    assert len(posted(h, channel, "📣")) == 1  # P1 updates every 30 minutes


async def test_a_mark_missed_while_down_is_posted_once_after_restart_labelled_late(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P2 Reports missing")
    await h.command(h.bob, "ack", channel)
    await h.stop()
    clock.set(incident.created_at + timedelta(minutes=20))  # down across the 5 and 15 marks

    again = await start()
    await idle(again, clock)
    shown = [text_of(m) for m in checklists(again, channel)]
    assert len(shown) == 2
    assert "Posted 15 min late" in shown[0] and "First 5 minutes" in shown[0]
    assert "Posted 5 min late" in shown[1] and "First 15 minutes" in shown[1]
    await at_minute(again, clock, incident, 59.9)
    assert len(checklists(again, channel)) == 2
    await at_minute(again, clock, incident, 60)
    assert len(checklists(again, channel)) == 3


@pytest.mark.slow
async def test_a_checklist_whose_post_slack_made_but_could_not_confirm_is_not_posted_twice(
    start: Start, clock: ManualClock
) -> None:
    """Slack posts the checklist, the answer is lost, and Slack cannot be asked either: the job
    is tried again later, finds the message Slack did make, and keeps it (buttons work)."""
    h = await start()
    incident, channel = await declared(h, "P2 Search is slow")
    await h.command(h.bob, "ack", channel)  # no reminder: the checklist is the next post
    await h.settle()
    h.slack.fail_next("chat.postMessage", lost_answer=True)
    h.slack.fail_next("conversations.history", error="internal_error")
    await at_minute(h, clock, incident, 5)
    assert len(checklists(h, channel)) == 1
    assert await h.app.scheduler.queue.get(f"{incident.id}:checklist:5") is not None  # retrying

    await at_minute(h, clock, incident, 6)
    [checklist] = checklists(h, channel)
    assert await h.app.scheduler.queue.get(f"{incident.id}:checklist:5") is None  # done
    await click(h, h.bob, channel, checklist, checklist_blocks.CHECK_DONE, 1)
    await eventually(lambda: f"Done — <@{h.bob}>" in text_of(checklists(h, channel)[0]))
    assert len(checklists(h, channel)) == 1


async def test_an_undeliverable_checklist_stops_and_is_recorded(
    start: Start, clock: ManualClock
) -> None:
    h = await start()
    incident, channel = await declared(h, "P2 Cache misses")
    await h.command(h.bob, "ack", channel)
    h.slack.ws.channels[channel].is_archived = True
    await at_minute(h, clock, incident, 5)

    entries = await h.app.services.store.timeline(incident.id)
    failures = [e for e in entries if e.kind == "undeliverable"]
    assert len(failures) == 1
    assert "“First 5 minutes” checklist could not be posted" in failures[0].text
    assert "the channel is archived" in failures[0].text
    dms = [c for c in h.slack.calls("chat.postMessage") if c.args.get("channel") == h.alice]
    assert len(dms) == 1 and "will not be retried" in dms[0].args["text"]
    pending = {j.id for j in await h.app.scheduler.queue.pending(incident.id)}
    assert f"{incident.id}:checklist:5" not in pending
    attempts = [c for c in h.slack.calls("chat.postMessage") if c.args.get("channel") == channel]
    await at_minute(h, clock, incident, 10)
    assert [
        c for c in h.slack.calls("chat.postMessage") if c.args.get("channel") == channel
    ] == attempts


async def test_two_replicas_post_each_checklist_once(start: Start, clock: ManualClock) -> None:
    first = await start()
    second = await start()  # same Redis and Slack; Slack now delivers to this one
    incident, channel = await declared(second, "P2 Two replicas")
    await second.command(second.bob, "ack", channel)
    for minutes in (5, 15, 60):
        clock.set(incident.created_at + timedelta(minutes=minutes))
        await idle(first, clock)
        await idle(second, clock)
    assert [m["text"].split(": ")[1].split(" (")[0] for m in checklists(second, channel)] == [
        "First 5 minutes",
        "First 15 minutes",
        "First 60 minutes",
    ]
