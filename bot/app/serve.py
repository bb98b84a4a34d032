"""`fireline serve`: the bot until SIGTERM or SIGINT, then a clean stop, whatever start-up
did (the embedded Redis stopped, every session closed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from bot.app.fireline import Fireline, create_app
from bot.settings import Settings

log = logging.getLogger(__name__)


async def run_until_signalled(
    start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Run `start()`, then wait for SIGTERM or SIGINT; `stop()` always follows, whether start-up
    finished, failed or was interrupted, so nothing it started (the embedded Redis, sessions,
    servers) outlives the process. A signal during start-up stops it as soon as it is safe."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stopping.set)
    waiting = asyncio.ensure_future(stopping.wait())
    try:
        starting = asyncio.ensure_future(start())
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        starting.result()  # a failed start-up raises here; stop() below undoes it
        await waiting
    finally:
        waiting.cancel()
        try:
            await stop()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


async def serve(settings: Settings) -> None:
    """`fireline serve`: the bot until SIGTERM or SIGINT, then a clean stop."""
    app: Fireline | None = None
    started = False

    async def start() -> None:
        nonlocal app, started
        app = create_app(settings)
        await app.start()
        started = True

    async def stop() -> None:
        if app is not None:
            await app.stop()
        if started:
            log.info("Fireline stopped")

    await run_until_signalled(start, stop)
