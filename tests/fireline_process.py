"""A `fireline` command run as a person runs it: a real process, its output read line by line,
its HTTP server found from what it prints, its process tree inspected.

Used by the tests of start-up and shutdown (`tests/test_startup.py`), of the installed wheel
(`tests/test_packaging.py`) and of README's set-up steps (`tests/test_readme_setup.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
UP = re.compile(r"Fireline is up on (http://[\d.]+:\d+)")
SANDBOX = re.compile(r"open (http://127\.0\.0\.1:\d+)/sandbox")
NOISE = (
    "Traceback",
    "Unclosed",
    "Task was destroyed",
    "Exception ignored",
    "will be unused",  # Bolt, when SLACK_BOT_TOKEN is in the environment and a client is given
    "A retry handler found",  # slack_sdk, at INFO, at every retry
)
"""What a person must never see on a start or a stop, whatever went wrong."""


def fireline_env(**values: str) -> dict[str, str]:
    """A clean environment: no Fireline setting but those given, the repository importable."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **values}


class Fireline:
    """One running `fireline …` process."""

    def __init__(
        self, args: Sequence[str], *, cwd: Path, env: dict[str, str], python: str | None = None
    ) -> None:
        self.args = [python or sys.executable, "-m", "bot", *args]
        self.cwd = cwd
        # Its own HOME unless given one: the sandbox writes ~/.kube/fireline-sandbox.yaml.
        # The test process's TMPDIR unless given one (tests/conftest.py: where its embedded
        # Redis runtime directories go, and so which leftovers its start reaps).
        tmpdir = {"TMPDIR": os.environ["TMPDIR"]} if "TMPDIR" in os.environ else {}
        self.env = {"HOME": str(cwd), **tmpdir, **env}
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self.process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    @classmethod
    def command(
        cls, executable: str, args: Sequence[str], *, cwd: Path, env: dict[str, str]
    ) -> Fireline:
        """An installed `fireline` script (or `make`), rather than `python -m bot`."""
        run = cls(args, cwd=cwd, env=env)
        run.args = [executable, *args]
        return run

    async def start(self, *, own_group: bool = False) -> Fireline:
        """`own_group`: in a process group of its own, as a terminal runs a command (signals
        then go to the whole group, as a Ctrl-C does: `signal_group`)."""
        self.process = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=own_group,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._read(self.process.stdout)),
            asyncio.ensure_future(self._read(self.process.stderr)),
        ]
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def wait_for_line(self, pattern: re.Pattern[str], timeout_s: float = 60) -> re.Match[str]:
        """The first line matching `pattern` (fails if the process ends without one)."""

        def found() -> re.Match[str] | None:
            return next((m for line in self.lines if (m := pattern.search(line))), None)

        async def wait() -> re.Match[str]:
            async with self._changed:
                while (match := found()) is None:
                    assert not self.finished, f"ended without {pattern.pattern!r}:\n{self.output}"
                    await self._changed.wait()
                return match

        try:
            return await asyncio.wait_for(wait(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"no line {pattern.pattern!r} in:\n{self.output}") from None

    @property
    def finished(self) -> bool:
        return all(reader.done() for reader in self._readers) and bool(self._readers)

    async def url(self) -> str:
        """The bot's base URL, as it says it when it is up (the sandbox: as it prints it)."""
        either = re.compile(f"{UP.pattern}|{SANDBOX.pattern}")
        match = await self.wait_for_line(either)
        return match.group(1) or match.group(2)

    async def exit_code(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout_s)
        await asyncio.wait_for(asyncio.gather(*self._readers), timeout_s)
        return code

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.send(sig)
        return await self.exit_code()

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def signal_group(self, sig: signal.Signals) -> None:
        os.killpg(self.pid, sig)

    def redis_children(self) -> list[int]:
        """The pids of the embedded redis-server processes this Fireline started."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [c.pid for c in children if _name(c) == "redis-server"]

    async def kill(self) -> None:
        """SIGKILL, for a test's clean-up: nothing of it survives the test but its leftovers."""
        if self.process is not None and self.process.returncode is None:
            for child in _children(self.pid):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        for reader in self._readers:
            reader.cancel()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def redis_servers_in(data_dir: Path) -> list[int]:
    """Every redis-server process whose working directory (Redis's `dir`) is `data_dir`."""
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info.get("name") != "redis-server":
            continue
        with contextlib.suppress(psutil.Error):
            if Path(process.cwd()) == data_dir.absolute() and running(process.pid):
                found.append(process.pid)
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def get(url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, **kwargs)  # type: ignore[arg-type]


async def until(condition: Callable[[], object], what: str, timeout_s: float = 30) -> None:
    """Wait for an async or plain condition to hold (polled), failing after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
