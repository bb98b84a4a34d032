"""A drill walked in a real browser from Start to its report, as a team would: the alert that
starts it, declare, acknowledge, a first diagnostic, a rollback requested by one person and
approved by another, its effect in the logs and in the error rate, resolve, the report.

The sandbox runs at ×20 here (the drill is made for ×4: the scripted run in test_drill.py holds
it to its targets there); what this walks is the page and the product, not the timings.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.async_api import Locator, Page, expect

from bot.sandbox.drill import load_drill, start_drill
from bot.sandbox.world import Sandbox
from tests.harness import eventually
from tests.sandbox.browser import WAIT_MS, declare, open_as, type_in_composer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]
RIDDEN_OUT = 2
"""Minutes of drill time after the rollback before the team looks again (`--since 2m`)."""


@pytest.fixture
def speed() -> float:
    return 20.0  # the drill's 60 minutes last 3 real minutes: the walk fits well inside


async def answer(page: Page, command: str, shows: str) -> Locator:
    """Type `/incident <command>` in the channel on screen; the new message that shows `shows`."""
    found = page.locator("#messages .msg", has_text=shows)
    before = await found.count()
    await type_in_composer(page, f"/incident {command}")
    await expect(found).to_have_count(before + 1, timeout=WAIT_MS)
    return found.last


async def test_a_drill_from_start_to_report_with_a_rollback_that_shows_in_logs_and_metrics(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    page = browser_page
    run = start_drill(sandbox, load_drill("checkout-rollout"))
    await open_as(page, sandbox, "Riley Responder — responder")
    await expect(page.locator("#drill-clock")).to_have_text("Not started")
    await page.click("#drill-start")

    # The alert that started the drill, one click away.
    await page.click("#drill-alert", timeout=WAIT_MS)
    await expect(page.locator("#thread")).to_contain_text("HighErrorRate", timeout=WAIT_MS)
    await page.click("#close-thread")

    channel = await declare(page, "P1 Checkout errors after a deploy")
    await channel.click()
    card = page.locator(".msg", has=page.locator("h3", has_text="INC-1")).first
    # Declaring counts as acknowledging: the card says so, with no Acknowledge to press.
    await expect(card).to_contain_text("Acknowledged", timeout=WAIT_MS)
    await expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)
    before = await answer(page, "logs checkout --since 30m", "(last 30m)")
    await expect(before).to_contain_text("500")

    # Riley asks for the rollback; Avery approves it; the cluster rolls back.
    await type_in_composer(page, "/incident rollback checkout")
    rollback = page.locator("#messages .msg:not(.ephemeral)", has_text="rollback checkout")
    await expect(rollback).to_contain_text("Waiting for approval", timeout=WAIT_MS)
    await page.select_option("#who", label="Avery Approver — approver")
    await rollback.get_by_role("button", name="Approve").click()
    await expect(rollback).to_contain_text("Done", timeout=30_000)
    done = sandbox.clock.now()
    await page.select_option("#who", label="Riley Responder — responder")

    # Two minutes of drill time later, the logs and the error rate show the recovery.
    await eventually(
        lambda: sandbox.clock.now() - done >= timedelta(minutes=RIDDEN_OUT), 30.0, "2 minutes"
    )
    logs = await answer(page, f"logs checkout --since {RIDDEN_OUT}m", f"(last {RIDDEN_OUT}m)")
    await expect(logs).to_contain_text("· 0 error lines")
    await expect(logs).to_contain_text('"POST /api/checkout" 200')
    errors = await answer(page, "query error-rate --service checkout", "5xx")
    found = re.search(r"service=checkout,simulated=true\s+([\d.]+) %", await errors.inner_text())
    assert found and float(found.group(1)) == 0.0, await errors.inner_text()

    await type_in_composer(page, "/incident mitigated")
    await expect(card).to_contain_text("Mitigated", timeout=WAIT_MS)
    await type_in_composer(page, "/incident resolve Rolled back checkout to 2.3.0")

    # The report: Block Kit in the channel, the whole report as a UTF-8 file beside it.
    report = page.locator("#messages .msg", has=page.locator("h3", has_text="Drill:"))
    await expect(report).to_contain_text(
        "Drill: Checkout errors after a deploy — INC-1", timeout=WAIT_MS
    )
    for milestone in ("Declare an incident", "Acknowledge", "First diagnosis", "Mitigate"):
        await expect(report).to_contain_text(milestone)
    shown = await report.inner_text()
    assert not any(mark in shown for mark in ("# Drill", "| --- |", "**")), shown
    await expect(page.locator("#drill-clock")).to_contain_text("Finished", timeout=WAIT_MS)
    frozen = await page.locator("#drill-clock").inner_text()
    assert frozen.removeprefix("Finished · ") in shown  # stopped when it was resolved
    await page.screenshot(path=str(shots / "7-drill-report.png"))
    file = page.locator("#messages a", has_text="Drill report: INC-1")
    href = await file.get_attribute("href")
    assert href is not None
    response = await page.request.get(urljoin(page.url, href))
    assert "charset=utf-8" in response.headers["content-type"]
    assert "✅" in (await response.body()).decode("utf-8")
    assert run.finished.is_set()
    await eventually(lambda: sandbox.clock.now() - done >= timedelta(minutes=4), 30.0, "time")
    await expect(page.locator("#drill-clock")).to_have_text(frozen)  # stopped at Finished
