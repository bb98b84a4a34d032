"""`fireline sandbox`: start the sandbox, say where its page is, serve until interrupted."""

from __future__ import annotations

import asyncio

from bot.sandbox.world import Sandbox, SandboxOptions


async def run(options: SandboxOptions, drill: str | None = None) -> None:
    """Start the sandbox, print where its page is, and serve until interrupted."""
    from bot.sandbox.drill import load_drill, start_drill

    script = load_drill(drill) if drill is not None else None  # a wrong name fails first
    sandbox = Sandbox(options)
    await sandbox.start()
    try:
        print(f"Fireline sandbox: open {sandbox.url}", flush=True)
        if script is not None:
            start_drill(sandbox, script)
            print(f"Drill started: {script.title}. {script.about}", flush=True)
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()
