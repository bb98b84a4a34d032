"""Issue 13, finding 1, on the sandbox page as a trial user meets it: Nico, in no role, clicks
Take command on Riley's incident and is told why not; the card still shows Riley in command."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from bot.sandbox.world import Sandbox
from tests.sandbox.browser import WAIT_MS, declare, open_as

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_someone_in_no_role_cannot_take_command(browser_page: Page, sandbox: Sandbox) -> None:
    page = browser_page
    await open_as(page, sandbox, "Riley Responder — responder")
    channel = await declare(page, "P1 Checkout errors after deploy")
    await channel.click()
    card = page.locator(".msg", has=page.locator("h3", has_text="INC-1")).first
    await expect(card).to_contain_text("Checkout errors after deploy", timeout=WAIT_MS)

    await page.select_option("#who", label="Nico Newcomer — no role")
    await card.get_by_role("button", name="Take command").click()
    refused = page.locator(".msg.ephemeral", has_text="Holding the commander role needs the role")
    await expect(refused).to_be_visible(timeout=WAIT_MS)
    await expect(refused).to_contain_text("you have none")
    assert sandbox.app is not None
    incident = await sandbox.app.services.store.get("INC-1")
    riley = next(p.user_id for p in sandbox.people.values() if p.role == "responder")
    assert incident.commander == riley
