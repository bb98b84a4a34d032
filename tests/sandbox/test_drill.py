"""A drill played by a scripted team at --speed 60: the report's timings match the script.

The team acts through the Slack double's user actions (as the page does), at chosen moments of
sandbox time measured from the drill's first alert; the drill report must show those moments
(to within what the real latency of each request is worth at ×60)."""

from __future__ import annotations

import pytest

from bot.errors import ConfigurationError
from bot.sandbox.drill import load_drill, start_drill
from bot.sandbox.world import Sandbox
from tests.harness import eventually

TOLERANCE_S = 25.0  # sandbox seconds: ~0.4 s of real time at ×60


@pytest.fixture
def speed() -> float:
    return 60.0


def persona(sandbox: Sandbox, handle: str) -> str:
    return next(u for u, p in sandbox.people.items() if p.handle == handle)


@pytest.mark.slow
async def test_drill_report_shows_the_scripted_team_timings(sandbox: Sandbox) -> None:
    run = start_drill(sandbox, load_drill("checkout-rollout"))
    slack, clock = sandbox.slack, sandbox.clock
    riley, casey = persona(sandbox, "riley"), persona(sandbox, "casey")
    room = sandbox.channels["war-room"]

    async def at(seconds: float) -> None:
        await clock.sleep(seconds - (clock.now() - run.started).total_seconds())

    alerts = sandbox.channels["alerts"]
    await eventually(lambda: slack.messages(alerts), 5.0, "the drill's first alert")

    await at(120)
    await slack.slash_command(riley, room, "declare P1 Checkout failing")
    incident_id = await eventually(lambda: run.incident_id, 5.0, "the drill's incident")
    incident = await sandbox.app.services.store.get(incident_id)  # type: ignore[union-attr]
    channel = await eventually(
        lambda: next((c.id for c in slack.ws.channels.values() if c.name.startswith("inc-")), None)
    )
    await at(180)
    await slack.slash_command(casey, channel, "ack")
    await at(300)
    await slack.slash_command(riley, channel, "logs checkout --since 30m")
    await at(540)
    await slack.slash_command(casey, channel, "mitigated")
    await at(600)
    await slack.slash_command(casey, channel, "resolve Bad field in provider v2 response")

    await eventually(lambda: run.finished.is_set(), 10.0, "the drill to finish")
    report = run.report or ""
    assert report.startswith(f"# Drill: Checkout errors after a deploy — {incident.id}")
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in report.splitlines()
        if line.startswith("| ") and "---" not in line and "Milestone" not in line
    }
    expected = {
        "Declare an incident": 120,
        "Acknowledge": 120,  # declaring counts as acknowledging (casey's ack changes nothing)
        "First diagnosis (a diagnostic with a result)": 300,
        "Mitigate": 540,
        "Resolve": 600,
    }
    for milestone, seconds in expected.items():
        shown = rows[milestone].split(" (")[0]
        minutes, _, rest = shown.partition(" min ")
        measured = int(minutes) * 60 + int(rest.removesuffix(" s"))
        assert abs(measured - seconds) <= TOLERANCE_S, (milestone, shown, seconds)
    assert "(✅ within the 5 min 00 s target)" in rows["Acknowledge"]
    assert "(✅ within the 30 min 00 s target)" in rows["Mitigate"]
    assert "**Checklists:** 0 done, 0 not applicable, 4 left open." in report
    assert "# Post-incident report:" in report  # the product's own report follows
    # Posted where the team is: the heading in the channel, the whole report as a file.
    assert any("# Drill: Checkout errors" in m.get("text", "") for m in slack.messages(channel))
    assert any(f.filename == f"drill-{incident.id}.md" for f in slack.ws.files.values())
    assert "Finished" in str(run.status()["text"])


def test_unknown_drill_names_the_drills() -> None:
    with pytest.raises(ConfigurationError, match="the drills are: checkout-rollout, memory-leak"):
        load_drill("fire")
