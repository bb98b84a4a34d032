"""What a person does on the sandbox page, for the browser tests (Playwright)."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from bot.sandbox.world import Sandbox

WAIT_MS = 10_000


async def open_as(page: Page, sandbox: Sandbox, who: str) -> None:
    await page.goto(sandbox.url)
    await expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    await page.select_option("#who", label=who)


async def type_in_composer(page: Page, text: str) -> None:
    await page.fill("#compose", text)
    await page.press("#compose", "Enter")


async def declare(page: Page, text: str) -> Locator:
    await type_in_composer(page, f"/incident declare {text}")
    await expect(page.locator(".msg.ephemeral", has_text="declared as")).to_be_visible(
        timeout=WAIT_MS
    )
    channel = page.locator("#channels a", has_text="inc-")
    await expect(channel).to_have_count(1, timeout=WAIT_MS)
    return channel
