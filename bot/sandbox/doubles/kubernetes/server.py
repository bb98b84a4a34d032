"""`KubernetesDouble`: the HTTP server, run on its own event loop in a background thread.

The official client is blocking, so the double must not share the caller's loop: tests
(and the bot, through `asyncio.to_thread`) call it from other threads while this thread
serves. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from types import TracebackType

from aiohttp import web

from bot.sandbox.doubles.kubernetes.api import Api
from bot.sandbox.doubles.kubernetes.controller import reconcile_if_due
from bot.sandbox.doubles.kubernetes.faults import Faults, RequestLog
from bot.sandbox.doubles.kubernetes.responses import OnServe
from bot.sandbox.doubles.kubernetes.store import Cluster

HOST = "127.0.0.1"


class KubernetesDouble:
    """A Kubernetes API server double over real HTTP.

        `cluster` is the state it serves (mutable from any thread), `faults` injects errors,
        latency and hangs, `requests` records every request. `reconcile_interval` is how often
        the controllers run in the background (and before a request that needs them), when anything
    they depend on has changed.
    """

    def __init__(
        self,
        cluster: Cluster | None = None,
        *,
        on_serve: OnServe | None = None,
        reconcile_interval: float = 0.02,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.cluster = cluster or Cluster()
        self.faults = Faults()
        self.requests = RequestLog()
        self.on_serve = on_serve
        self.reconcile_interval = reconcile_interval
        self._port = port
        self.ssl_context = ssl_context
        """Served over TLS with this context (an API server's certificate), if given."""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> str:
        """Start serving; returns the base URL (http://127.0.0.1:PORT)."""
        if self._thread is not None:
            return self.base_url
        self._thread = threading.Thread(target=self._run, name="k8s-double", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("Kubernetes double did not start in time")
        if self._error is not None:
            raise RuntimeError("Kubernetes double failed to start") from self._error
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if thread is None or loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> KubernetesDouble:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- server thread -----------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # surfaced to start() or swallowed after stop()
            self._error = error
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        stopping = asyncio.Event()
        closing = asyncio.Event()
        self._stopping = stopping
        api = Api(self.cluster, self.faults, self.requests, self.on_serve, closing)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", api.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self._port, ssl_context=self.ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        scheme = "https" if self.ssl_context is not None else "http"
        self.base_url = f"{scheme}://{HOST}:{port}"
        ticker = asyncio.create_task(self._tick())
        self._ready.set()
        try:
            await stopping.wait()
        finally:
            closing.set()  # release hung requests
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await runner.cleanup()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_interval)
            reconcile_if_due(self.cluster)
