"""The aiohttp server of the double: routes, loopback-only binding, async and thread lifecycles."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.sandbox.doubles.slack.api import WebApi
from bot.sandbox.doubles.slack.response_urls import ResponseUrls
from bot.sandbox.doubles.slack.socket_mode import SocketHub
from bot.sandbox.doubles.slack.workspace import Workspace

LOOPBACK = "127.0.0.1"


class DoubleServer:
    """Serves the Web API, file uploads, response_urls and Socket Mode on 127.0.0.1."""

    def __init__(
        self,
        ws: Workspace,
        api: WebApi,
        responses: ResponseUrls,
        hub: SocketHub,
        on_start: Callable[[], Awaitable[None]],
        on_stop: Callable[[], Awaitable[None]],
    ) -> None:
        self._ws = ws
        self._api = api
        self._responses = responses
        self._hub = hub
        self._on_start = on_start
        self._on_stop = on_stop
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the double is not started")
        return f"http://{LOOPBACK}:{self.port}/"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api.handle)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._responses.handle)
        app.router.add_get("/link/", self._hub.handle)
        return app

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        stored = self._ws.files.get(request.match_info["file_id"])
        if stored is None or stored.completed:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = form.get("file")
            data = b""
            if field is not None and not isinstance(field, str | bytes | bytearray):
                data = field.file.read()
        else:
            data = await request.read()
        with self._ws.lock:
            stored.content = data
        return web.Response(text=f"OK - {len(data)}")

    # -- async lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("already started")
        self.loop = asyncio.get_running_loop()
        runner = web.AppRunner(self._app(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1])
        await self._on_start()

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self._hub.disconnect_all()
        await self._on_stop()
        await self._runner.cleanup()
        self._runner = None

    # -- background thread lifecycle ---------------------------------------------------------
    def start_in_thread(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the starting thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="slack-double", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the Slack double did not start")
        if errors:
            raise errors[0]

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    @property
    def in_thread(self) -> bool:
        return self._thread is not None
