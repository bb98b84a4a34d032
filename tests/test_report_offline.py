"""`fireline report INC-1` reads Redis and nothing else: no Slack tokens, no Slack call. It
works on the embedded Redis whether or not a bot is running on the same data directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import incident as model
from bot.incident import Severity, declared_entry
from bot.store.server import RedisHandle, start_embedded
from bot.store.store import Store, new_incident
from tests.fireline_process import Fireline, fireline_env, redis_servers_in, running

pytestmark = [pytest.mark.process, pytest.mark.embedded]
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def declare(handle: RedisHandle) -> None:
    store = Store(handle.client, prefix="fireline:")  # the default prefix, as `.env` leaves it
    template = new_incident(title="Checkout down", severity=Severity.P1, reporter="U0ALICE", now=T0)
    incident, _ = await store.create_incident("t1", template, declared_entry(template))
    await store.mutate(
        incident.id, lambda i: model.change_severity(i, "U0BOB", Severity.P0, T0)
    )  # a timeline line in which Fireline names a person: "… by <@U0BOB>"


async def report(cwd: Path) -> Fireline:
    run = await Fireline(["report", "INC-1"], cwd=cwd, env=fireline_env()).start()
    assert await run.exit_code() == 0, run.output
    return run


async def test_report_needs_only_redis(tmp_path: Path) -> None:
    handle = start_embedded(tmp_path / "data")  # FIRELINE_DATA_DIR's default, ./data
    await declare(handle)
    await handle.close()

    run = await report(tmp_path)  # no SLACK_* anywhere, no .env
    assert run.lines[0] == "# Post-incident report: INC-1 — Checkout down"
    assert "P1 → P0 by @U0BOB" in run.output  # people by their Slack IDs without Slack
    assert redis_servers_in(tmp_path / "data") == []


async def test_report_beside_a_running_bot_uses_its_redis_and_leaves_it_running(
    tmp_path: Path,
) -> None:
    bot = start_embedded(tmp_path / "data")
    try:
        await declare(bot)
        run = await report(tmp_path)
        assert run.lines[0] == "# Post-incident report: INC-1 — Checkout down"
        assert bot.embedded is not None and running(bot.embedded.pid)
        assert await asyncio.wait_for(bot.client.ping(), 5)
    finally:
        await bot.close()
