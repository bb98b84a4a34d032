"""The sandbox page reads Block Kit text the way Slack does, in a real browser: usage strings
with `<placeholders>` in code read as written (they once showed as "describe 7"), a hostile
title reads as typed and becomes neither a mention, a link, nor markup on the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.sandbox.world import Sandbox
from tests.sandbox.browser import WAIT_MS, declare, open_as, type_in_composer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TITLE = "<!channel> & <https://evil.example|sso.example.com> <img src=x onerror=alert(1)>"


async def test_usage_strings_show_their_placeholders(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    page = browser_page
    await open_as(page, sandbox, "Riley Responder — responder")
    await type_in_composer(page, "/incident help")
    help_ = page.locator(".msg.ephemeral", has_text="commands:")
    await expect(help_).to_be_visible(timeout=WAIT_MS)
    code = help_.locator("pre").first
    await expect(code).to_contain_text("/incident declare [P0|P1|P2|P3] <title>")
    await expect(code).to_contain_text("/incident update <text>")
    diagnostics = help_.locator("pre").nth(1)
    await expect(diagnostics).to_contain_text("/incident describe <pod> [-n namespace]")
    await expect(diagnostics).to_contain_text("/incident scale <deployment> <replicas>")
    await expect(help_).to_contain_text("-n <namespace>")
    await page.screenshot(path=str(shots / "6-help.png"))


async def test_a_hostile_title_reads_as_typed_and_pings_no_one(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await open_as(page, sandbox, "Riley Responder — responder")
    channel = await declare(page, f"P1 {TITLE}")
    await channel.click()
    card = page.locator(".msg", has=page.locator("h3", has_text="INC-1")).first
    await expect(card.locator("h3")).to_contain_text(TITLE, timeout=WAIT_MS)
    await expect(page.locator("#channel-topic")).to_contain_text(TITLE, timeout=WAIT_MS)
    await page.locator("#channels a", has_text="incidents").click()
    await expect(page.locator("#messages")).to_contain_text(TITLE, timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "7-hostile-title.png"))

    assert await page.locator('a[href*="evil.example"]').count() == 0
    assert await page.locator("img").count() == 0
    mentions = await page.locator(".mention").all_inner_texts()
    assert not [m for m in mentions if m in ("@channel", "@everyone", "@here")], mentions
    assert dialogs == []
