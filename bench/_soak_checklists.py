"""The chaos soak's checklist ticks (`bench.soak`): the checklists it has Fireline post, the
clicks on their Done / Not applicable buttons, and what is checked of them afterwards.

Checklists come at whole-minute marks after a declaration (`bot.checklists.models`: 1 minute
is the earliest a checklists file may name), so the soak gives Fireline the packaged checklists
with a first one at minute 1: within a run of a few minutes, incidents get checklists while
replicas are being killed, and people tick them. A 24 s smoke run ends before the first mark:
its checklists come, if at all, while the checks wait for the replicas to settle.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.blockkit import escape
from bot.checklists import messages as checklist_text
from bot.checklists import views as checklist_blocks
from bot.checklists.models import ChecklistBook, ChecklistSpec, PostedChecklist, load_checklists
from bot.incident import Incident
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.store import Store

FIRST_MINUTE = ChecklistSpec(
    minutes=1,
    title="First minute",
    items=[
        "Is someone looking at it right now?",
        "Is the incident channel the one place to talk about it?",
        "Do we know which service is failing?",
    ],
)
"""Items unlike the packaged ones: an item's text names it within its incident."""

TICK_AGE_S = (55.0, 420.0)
"""Incident channels this old get ticks: past the 1-minute mark, up to the 5-minute one's
first minute (both lists are ticked)."""

RECORDED = re.compile(r"^Recorded: “(?P<item>.+)” is (?P<what>done|not applicable)\.$")
ALREADY = re.compile(
    r"^“(?P<item>.+)” was already marked (?P<what>done|not applicable) by <@(?P<user>\w+)>"
)
SHOWN = re.compile(r"\n(?P<mark>✅ Done|➖ Not applicable) — <@(?P<user>\w+)>")


def write_checklists(path: Path) -> Path:
    """The packaged checklists, with `FIRST_MINUTE` before them."""
    packaged = load_checklists()
    config = packaged.model_copy(update={"default": [FIRST_MINUTE, *packaged.default]})
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True), "utf-8")
    load_checklists(path)  # Fireline will accept it
    return path


@dataclass
class TickTally:
    clicks: int = 0
    """Clicks on a Done or Not applicable button, repeats included."""
    repeats: int = 0
    """Second clicks on an item (a double click, or a stale copy clicked again)."""
    posted: int = 0
    answered: int = 0
    told_recorded: int = 0
    told_already: int = 0


class Ticker:
    """Each workload second: people tick items of checklists in incident channels, on the
    message as it is now or on the copy they first saw (a stale client), some twice."""

    def __init__(self, slack: SlackDouble, people: list[str], tally: TickTally) -> None:
        self.slack = slack
        self.people = people
        self.tally = tally
        self.born: dict[str, float] = {}
        self.first_copy: dict[str, dict[str, Any]] = {}
        """Checklist message ts → the copy of it first seen."""

    def step(self, spawn: Callable[[Any], None], channels: int = 2) -> None:
        now = time.monotonic()
        for made in list(self.slack.ws.channels.values())[-8:]:
            if made.name.startswith("inc-"):
                self.born.setdefault(made.id, now)
        young, old = TICK_AGE_S
        candidates = [c for c, t in self.born.items() if young <= now - t <= old]
        for channel in random.sample(candidates, min(channels, len(candidates))):
            posted = [m for m in self.slack.messages(channel) if _is_checklist(self.slack, m)]
            if not posted:
                continue
            current = random.choice(posted)
            stale = self.first_copy.setdefault(current["ts"], current)
            if not _items(stale):
                continue
            item = random.randint(1, _items(stale))
            copies = [m for m in (current, stale) if _open(m, item)]
            if not copies:
                continue
            copy = random.choice(copies)
            action = random.choice([checklist_blocks.CHECK_DONE] * 3 + [checklist_blocks.CHECK_NA])
            clicks = 2 if random.random() < 0.3 else 1
            for n in range(clicks):
                spawn(
                    self.slack.click_button(
                        random.choice(self.people),
                        channel,
                        copy["ts"],
                        action,
                        block_id=f"item-{item}",
                        message=copy,
                    )
                )
                self.tally.clicks += 1
                self.tally.repeats += n


def _is_checklist(slack: SlackDouble, message: dict[str, Any]) -> bool:
    return message.get("user") == slack.bot_user_id and str(message.get("text", "")).startswith(
        "📋"
    )


def _items(message: dict[str, Any]) -> int:
    """How many items the checklist message shows (open or answered)."""
    return sum(
        1
        for b in message.get("blocks", [])
        if b.get("type") == "section"
        and (str(b["text"]["text"]).startswith("⬜ ") or SHOWN.search(b["text"]["text"]))
    )


def _heading(message: dict[str, Any]) -> str:
    blocks = message.get("blocks") or [{}]
    return str((blocks[0].get("text") or {}).get("text", ""))


def _open(message: dict[str, Any], item: int) -> bool:
    return any(b.get("block_id") == f"item-{item}" for b in message.get("blocks", []))


def _shown(message: dict[str, Any], spec: ChecklistSpec) -> dict[int, tuple[str, str] | None]:
    """Item → the answer the message shows ((kind, user)), None where it shows buttons."""
    shown: dict[int, tuple[str, str] | None] = {}
    for number, text in enumerate(spec.items, 1):
        if _open(message, number):
            shown[number] = None
            continue
        row = next(
            (
                b["text"]["text"]
                for b in message.get("blocks", [])
                if b.get("type") == "section"
                and str(b["text"]["text"]).startswith(escape(text) + "\n")
            ),
            "",
        )
        found = SHOWN.search(row)
        if found:
            kind = "done" if found["mark"] == "✅ Done" else "n/a"
            shown[number] = (kind, found["user"])
        else:
            shown[number] = ("?", "?")
    return shown


def _recorded(posted: PostedChecklist) -> dict[int, tuple[str, str] | None]:
    return {
        n: ((a.kind, a.user) if (a := posted.answers.get(n)) else None)
        for n in range(1, len(posted.spec.items) + 1)
    }


async def checklist_problems(
    slack: SlackDouble, store: Store, incidents: list[Incident], tally: TickTally
) -> list[str]:
    """What is wrong with the checklists and their ticks, as Redis and Slack hold them now:
    - **0 lost**: every person told "Recorded: “item” is done" has that answer, by them, in
      Redis; every "was already marked done by <@U>" is U's answer in Redis;
    - **0 duplicated**: one message per checklist posted, one timeline entry per answer;
    - **consistent**: every checklist message shows exactly the answers Redis holds."""
    problems: list[str] = []
    book = ChecklistBook(store)
    by_channel = {i.channel_id: i for i in incidents if i.channel_id}
    lists: dict[str, list[PostedChecklist]] = {}
    tally.posted = tally.answered = 0
    for incident in incidents:
        if incident.channel_id is None:
            continue
        lists[incident.id] = posted = await book.all(incident.id)
        tally.posted += len(posted)
        tally.answered += sum(len(p.answers) for p in posted)
        shown = [m for m in slack.messages(incident.channel_id) if _is_checklist(slack, m)]
        for each in posted:
            heading = checklist_text.checklist_heading(incident.id, each.spec.title, 0)
            copies = [m for m in shown if _heading(m) == heading]
            if len(copies) != 1 or copies[0]["ts"] != each.ts:
                problems.append(f"TWICE: {incident.id} “{each.spec.title}” posted {len(copies)}x")
            elif _shown(copies[0], each.spec) != _recorded(each):
                problems.append(
                    f"{incident.id} “{each.spec.title}”: the message shows "
                    f"{_shown(copies[0], each.spec)}, Redis holds {_recorded(each)}"
                )
        if len(shown) > len(posted):
            problems.append(f"{incident.id}: {len(shown)} checklists shown, {len(posted)} recorded")
        if any(p.answers for p in posted):
            entries = [e.text for e in await store.timeline(incident.id) if e.kind == "checklist"]
            wanted = [
                checklist_text.checklist_answered(
                    incident.id, p.spec.title, p.spec.items[n - 1], a.kind, a.user
                )
                for p in posted
                for n, a in p.answers.items()
            ]
            if Counter(entries) != Counter(wanted):
                twice = [t for t, c in Counter(entries).items() if c > 1]
                problems.append(
                    f"{incident.id}: {len(entries)} checklist timeline entries for "
                    f"{len(wanted)} answers{' (TWICE: ' + twice[0] + ')' if twice else ''}"
                )
    tally.told_recorded = tally.told_already = 0
    for told in slack.ephemerals():
        text = told.text or ""
        said = RECORDED.match(text) or ALREADY.match(text)
        if said is None:
            continue
        where = by_channel.get(told.channel_id)
        found = [
            (p, n)
            for p in (lists.get(where.id, []) if where else [])
            for n, item in enumerate(p.spec.items, 1)
            if escape(item) == said["item"]
        ]
        kind = "done" if said["what"] == "done" else "n/a"
        user = said.groupdict().get("user") or told.user_id
        if said.re is RECORDED:
            tally.told_recorded += 1
        else:
            tally.told_already += 1
        answer = found[0][0].answers.get(found[0][1]) if len(found) == 1 else None
        if answer is None or (answer.kind, answer.user) != (kind, user):
            place = where.id if where else told.channel_id
            problems.append(f"LOST the tick “{said['item']}” in {place} ({kind} by {user})")
    return problems
