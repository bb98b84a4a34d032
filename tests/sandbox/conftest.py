"""The sandbox, started as `fireline sandbox` starts it (real Redis, a fresh key prefix), and a
real headless browser (Debian's chromium driven by Playwright) looking at its page."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.world import Sandbox, SandboxOptions
from bot.store.server import RedisHandle

CHROMIUM = shutil.which("chromium") or ""
SHOTS = os.environ.get("FIRELINE_SANDBOX_SCREENSHOTS")
"""Set to a directory (docs/sandbox) to keep the screenshots the browser tests take."""


@pytest.fixture
def speed() -> float:
    return 150.0  # the 5-minute checklist after 2 s


@pytest.fixture
def real_alertmanager() -> bool:
    return False  # a test that wants Debian's Alertmanager says so (and is marked `process`)


@pytest.fixture
async def sandbox(
    redis_handle: RedisHandle, prefix: str, speed: float, real_alertmanager: bool
) -> AsyncIterator[Sandbox]:
    options = SandboxOptions(
        speed=speed,
        http_port=0,
        redis=redis_handle,
        redis_prefix=prefix,
        real_alertmanager=real_alertmanager,
    )
    world = await Sandbox(options).start()
    yield world
    await world.stop()


@pytest.fixture
async def chromium_page() -> AsyncIterator[object]:
    """A browser tab with no sandbox behind it yet (a test that starts and stops its own)."""
    from playwright.async_api import async_playwright

    if not CHROMIUM:
        pytest.fail("chromium is not installed: run ./scripts/ensure-services (apt-get install)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        yield page
        await browser.close()


@pytest.fixture
async def browser_page(sandbox: Sandbox, chromium_page: object) -> AsyncIterator[object]:
    yield chromium_page  # closed before the sandbox stops (it depends on the sandbox)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(SHOTS) if SHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target
