"""Where the sandbox's Silence 1 h lands: a real Alertmanager when Debian's
`prometheus-alertmanager` is installed (started on a free loopback port, no clustering, its
data in the sandbox's temporary directory, stopped with the sandbox), else a simulated
Alertmanager API v2 for silences, which says on its page that it is one.

The simulated one keeps silences in memory and validates them as Alertmanager 0.25 does
(matchers present and well formed, `endsAt` after `startsAt` and not in the past), on the
sandbox clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import shutil
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bot.sandbox.clock import ScaledClock

log = logging.getLogger(__name__)

BINARIES = ("prometheus-alertmanager", "alertmanager")
READY_WITHIN_S = 15.0
CONFIG = """\
route:
  receiver: sandbox
receivers:
  - name: sandbox
"""
PREFIX = "/alertmanager"


def installed() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


class RealAlertmanager:
    """Debian's Alertmanager as a child process of the sandbox."""

    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.url = f"http://127.0.0.1:{port}"
        self._port = port
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "alertmanager.yml"
        config.write_text(CONFIG, encoding="utf-8")
        with (self.workdir / "alertmanager.log").open("wb") as errors:
            self._process = await asyncio.create_subprocess_exec(
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self._port}",
                "--cluster.listen-address=",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(int(READY_WITHIN_S / 0.1)):
                if self._process.returncode is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        await self.stop()
        tail = (self.workdir / "alertmanager.log").read_text(errors="replace")[-500:]
        raise RuntimeError(f"Alertmanager did not start: {tail}")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


class SimulatedAlertmanager:
    """Alertmanager API v2's silences, in memory, on the sandbox clock."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.silences: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/api/v2/silences", self._create),
            web.get(f"{PREFIX}/api/v2/silences", self._list),
            web.get(f"{PREFIX}/api/v2/silence/{{id}}", self._get),
            web.delete(f"{PREFIX}/api/v2/silence/{{id}}", self._expire),
            web.get(f"{PREFIX}/api/v2/status", self._status),
            web.get(f"{PREFIX}/-/ready", self._ready),
            web.get(PREFIX, self._page),
            web.get(f"{PREFIX}/", self._page),
        ]

    async def _create(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.Response(status=415, text="expected application/json")
        try:
            body = await request.json()
            silence = self._validated(body)
        except (ValueError, TypeError, KeyError) as exc:
            return web.Response(status=400, text=str(exc))
        silence_id = str(body.get("id") or uuid.uuid4())
        silence["id"] = silence_id
        self.silences[silence_id] = silence
        return web.json_response({"silenceID": silence_id})

    def _validated(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValueError("silence must be a JSON object")
        matchers = body.get("matchers")
        if not matchers or not isinstance(matchers, list):
            raise ValueError("at least one matcher required")
        for matcher in matchers:
            if not isinstance(matcher, dict) or not matcher.get("name"):
                raise ValueError("invalid label matcher")
        starts, ends = _parse(body["startsAt"]), _parse(body["endsAt"])
        if ends < starts:
            raise ValueError("end time must not be before start time")
        if ends < self.clock.now():
            raise ValueError("end time can't be in the past")
        return {
            "matchers": matchers,
            "startsAt": body["startsAt"],
            "endsAt": body["endsAt"],
            "createdBy": str(body.get("createdBy", "")),
            "comment": str(body.get("comment", "")),
            "updatedAt": self.clock.now().isoformat(),
        }

    def _with_state(self, silence: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        if _parse(silence["endsAt"]) <= now:
            state = "expired"
        elif _parse(silence["startsAt"]) > now:
            state = "pending"
        else:
            state = "active"
        return {**silence, "status": {"state": state}}

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([self._with_state(s) for s in self.silences.values()])

    async def _get(self, request: web.Request) -> web.Response:
        silence = self.silences.get(request.match_info["id"])
        if silence is None:
            return web.Response(status=404, text="silence not found")
        return web.json_response(self._with_state(silence))

    async def _expire(self, request: web.Request) -> web.Response:
        silence = self.silences.get(request.match_info["id"])
        if silence is None:
            return web.Response(status=404, text="silence not found")
        silence["endsAt"] = self.clock.now().isoformat()
        return web.Response(status=200)

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "cluster": {"status": "disabled", "peers": []},
                "versionInfo": {"version": "simulated"},
            }
        )

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _page(self, request: web.Request) -> web.Response:
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                *(
                    html.escape(str(v))
                    for v in (
                        s["id"],
                        s["status"]["state"],
                        ", ".join(f"{m['name']}={m.get('value', '')}" for m in s["matchers"]),
                        s["endsAt"],
                        f"{s['createdBy']}: {s['comment']}",
                    )
                )
            )
            for s in map(self._with_state, self.silences.values())
        )
        body = f"""<!doctype html><meta charset="utf-8">
<title>Simulated Alertmanager (sandbox)</title>
<style>body{{font:14px system-ui;margin:2em}}td,th{{padding:2px 10px;text-align:left}}</style>
<h1>Simulated Alertmanager</h1>
<p><strong>This is not Alertmanager.</strong> <code>prometheus-alertmanager</code> is not
installed, so the Fireline sandbox keeps silences here, in memory, on sandbox time
({html.escape(self.clock.now().isoformat(timespec="seconds"))}).</p>
<h2>Silences</h2>
<table><tr><th>ID</th><th>State</th><th>Matchers</th><th>Ends</th><th>By</th></tr>{rows}</table>
"""
        return web.Response(text=body, content_type="text/html")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed
