"""What people are told when a scheduled job fails for good: the truth, with what to quote."""

from __future__ import annotations

import logging
import re

import pytest

from bot.runtime.scheduler import Job
from tests.checklists.test_checklists import Start, clock, declared, idle, start
from tests.clock import ManualClock

__all__ = ["clock", "start"]  # the fixtures this module shares with test_checklists


async def test_a_job_stopped_by_an_unexpected_error_says_so_and_where_it_is_logged(
    start: Start, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    h = await start()
    incident, channel = await declared(h, "P2 Payments slow")
    await h.command(h.bob, "ack", channel)
    # A checklist job without its mark (as an older version might have left one): its
    # handler fails in a way nobody planned for. Slack has nothing to do with it.
    broken = Job(
        id=f"{incident.id}:checklist:broken",
        kind="checklist",
        due=clock.now().timestamp() + 60,
        group=incident.id,
    )
    await h.app.scheduler.schedule(broken)
    caplog.set_level(logging.ERROR, logger="bot.runtime.scheduler")
    clock.advance(60)
    await idle(h, clock)

    entries = await h.app.services.store.timeline(incident.id)
    failures = [e.text for e in entries if e.kind == "undeliverable"]
    assert len(failures) == 1
    assert "an unexpected error stopped it" in failures[0]
    assert "Slack" not in failures[0]
    found = re.search(r"logged as `([0-9a-f]{8})`", failures[0])
    assert found is not None
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # the traceback, under that ref
    dms = [c for c in h.slack.calls("chat.postMessage") if c.args.get("channel") == h.alice]
    assert [c.args["text"] for c in dms] == failures
    assert await h.app.scheduler.queue.get(broken.id) is None  # not retried
