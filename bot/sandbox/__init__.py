"""The local sandbox: Fireline wired to a Slack workspace emulator and a simulated cluster.

`fireline sandbox` (or `fireline serve` / `make run` with no Slack tokens) runs it; see
`docs/sandbox.md`. `bot.sandbox.world.Sandbox` composes it, `bot.sandbox.page` serves the page.
"""

from __future__ import annotations

import asyncio

from bot.sandbox.world import Sandbox, SandboxOptions

__all__ = ["Sandbox", "SandboxOptions", "run"]


async def run(options: SandboxOptions, drill: str | None = None) -> None:
    """Start the sandbox, print where its page is, and serve until interrupted."""
    sandbox = Sandbox(options)
    await sandbox.start()
    try:
        if drill is not None:
            from bot.sandbox.drill import start_drill

            await start_drill(sandbox, drill)
        print(f"Fireline sandbox: open {sandbox.url}", flush=True)
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()
