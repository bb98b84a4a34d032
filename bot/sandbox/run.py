"""`fireline sandbox`: start the sandbox, say where its page is, serve until SIGTERM or SIGINT.

Whatever happens (a taken port, a wrong drill name, a signal during start-up), everything the
sandbox started is stopped before the process exits: the embedded Redis, the doubles' servers,
the HTTP sessions.
"""

from __future__ import annotations

from bot.app import run_until_signalled
from bot.sandbox.world import Sandbox, SandboxOptions


async def run(options: SandboxOptions, drill: str | None = None) -> None:
    """Start the sandbox, print where its page is, and serve until SIGTERM or SIGINT."""
    from bot.sandbox.drill import load_drill, start_drill

    script = load_drill(drill) if drill is not None else None  # a wrong name fails first
    sandbox = Sandbox(options)

    async def start() -> None:
        await sandbox.start()
        print(f"Fireline sandbox: open {sandbox.url}", flush=True)
        if script is not None:
            start_drill(sandbox, script)
            print(f"Drill started: {script.title}. {script.about}", flush=True)

    await run_until_signalled(start, sandbox.stop)
