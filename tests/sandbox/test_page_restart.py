"""A sandbox tab left open while the sandbox is stopped and started again.

The page belongs to the run that served it (its token is that run's). While nothing answers,
it says it is disconnected and that a send needs the sandbox started again; once a new run
answers on the same port, that run refuses the old token, and the page says the sandbox
restarted and offers a reload, instead of drawing the refusal as the workspace ("Sandbox time
Invalid Date · ×undefined" under a green "live").
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from bot.sandbox.world import Sandbox, SandboxOptions
from bot.store.server import RedisHandle
from tests.ports import free_port
from tests.sandbox.browser import WAIT_MS, declare, open_as, type_in_composer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SANDBOX_TIME = re.compile(r"^Sandbox time \d\d:\d\d(:\d\d)?( [AP]M)? · ×150$")


async def test_a_tab_left_open_across_a_restart_says_so_and_reloads_into_the_new_run(
    chromium_page: Page, redis_handle: RedisHandle, prefix: str, speed: float
) -> None:
    page = chromium_page

    def options(port: int) -> SandboxOptions:
        return SandboxOptions(speed=speed, http_port=port, redis=redis_handle, redis_prefix=prefix)

    # A port no other worker can take while the sandbox is down (tests/ports.py); one the
    # kernel picked (port 0) could be handed to another process before the restart binds it.
    port = free_port()
    first = await Sandbox(options(port)).start()
    try:
        await open_as(page, first, "Riley Responder — responder")
        assert first.app is not None and first.app.port == port
    finally:
        await first.stop()

    pill, toast, clock = page.locator("#live"), page.locator("#toast"), page.locator("#clock")
    await expect(pill).to_have_text("disconnected — retrying", timeout=WAIT_MS)
    await type_in_composer(page, "/incident help")
    await expect(toast).to_contain_text("The sandbox is not running", timeout=WAIT_MS)
    await expect(toast).to_contain_text("start it again with `make run`")
    await expect(toast).not_to_contain_text("TypeError")

    second = await Sandbox(options(port)).start()
    try:
        await expect(pill).to_have_text("restarted", timeout=WAIT_MS)
        banner = page.locator("#restarted")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("The sandbox restarted")
        # The clock still reads the old run's state, never the refusal as state.
        await page.evaluate("tick()")
        await expect(clock).to_have_text(SANDBOX_TIME)
        await type_in_composer(page, "/incident help")
        await expect(toast).to_contain_text("The sandbox restarted", timeout=WAIT_MS)
        await expect(toast).not_to_contain_text("token")

        await banner.get_by_role("button", name="Reload").click()
        await expect(pill).to_have_text("live", timeout=WAIT_MS)
        await expect(banner).to_be_hidden()
        await expect(clock).to_have_text(SANDBOX_TIME, timeout=WAIT_MS)
        await declare(page, "P2 Declared after the restart")
    finally:
        await second.stop()
