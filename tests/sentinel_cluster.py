"""Redis high availability as it runs in production, on loopback: a master, a replica and
three Sentinels, real `redis-server` processes on free ports (`redis-server --sentinel` with a
generated configuration), started and stopped by a test or a benchmark.

    async with SentinelCluster(tmp_path) as cluster:
        settings = cluster.storage(prefix)        # FIRELINE_REDIS_SENTINELS=… for the bot
        await cluster.failover()                  # SENTINEL FAILOVER, then wait until done
        await cluster.kill_master()               # SIGKILL; the Sentinels elect the replica

Every wait is for a condition (the Sentinels agree on the new master, the replica's link is
up), bounded; `close()` kills every process it started, whatever happened before.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from bot.settings import StorageSettings
from tests.ports import free_port

SERVICE = "fireline-ha"
DOWN_AFTER_MS = 1000
"""How long the Sentinels wait before they call a silent master down (production: 5-30 s)."""
FAILOVER_TIMEOUT_MS = 5000
LIMIT_S = 30.0
"""Longest any wait for the cluster takes; on a busy 2-core machine a failover takes 2-5 s."""


class SentinelCluster:
    """A master, `replicas` replicas and three Sentinels watching them as `SERVICE`."""

    def __init__(self, workdir: Path, *, replicas: int = 1) -> None:
        self.workdir = workdir
        self.replicas = replicas
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        """Port → the redis-server serving it (data servers and Sentinels)."""
        self.data_ports: list[int] = []
        self.sentinel_ports: list[int] = []
        self.killed: list[int] = []

    # -- starting and stopping ---------------------------------------------------------------------
    async def __aenter__(self) -> SentinelCluster:
        try:
            await self.start()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def start(self) -> None:
        master = self._server([])
        for _ in range(self.replicas):
            self._server(["--replicaof", "127.0.0.1", str(master)])
        for _ in range(3):
            self._sentinel(master)
        await self.until(self._settled, "the replicas to sync and the Sentinels to see them all")

    def _server(self, extra: list[str]) -> int:
        port = free_port()
        data = self.workdir / f"redis-{port}"
        data.mkdir(parents=True)
        self._spawn(port, [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
            "--save", "", "--appendonly", "no", "--logfile", str(data / "redis.log"),
            # As docs/decisions/ha.md asks of production: a master without a replica refuses
            # writes, so a master being demoted accepts none a failover would then drop.
            "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", *extra,
        ])  # fmt: skip
        self.data_ports.append(port)
        return port

    def _sentinel(self, master: int) -> int:
        port = free_port()
        conf = self.workdir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"logfile {self.workdir / f'sentinel-{port}.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n",
            encoding="utf-8",
        )
        self._spawn(port, ["redis-server", str(conf), "--sentinel"])
        self.sentinel_ports.append(port)
        return port

    def _spawn(self, port: int, args: list[str]) -> None:
        self.processes[port] = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def close(self) -> None:
        """Kill every process started (SIGKILL: nothing here is worth saving) and reap it."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    # -- what the bot is given -------------------------------------------------------------------
    @property
    def sentinels_setting(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def storage(self, prefix: str = "fireline:", **values: Any) -> StorageSettings:
        """Settings pointing at this cluster, as `FIRELINE_REDIS_SENTINELS=…` would."""
        return StorageSettings(
            _env_file=None,
            redis_sentinels=self.sentinels_setting,
            redis_sentinel_master=SERVICE,
            redis_prefix=prefix,
            **values,
        )

    def environment(self) -> dict[str, str]:
        return {
            "FIRELINE_REDIS_SENTINELS": self.sentinels_setting,
            "FIRELINE_REDIS_SENTINEL_MASTER": SERVICE,
        }

    # -- what the Sentinels and servers say ------------------------------------------------------
    async def ask(self, port: int, *command: Any) -> Any:
        """One command to one server, answered as redis-py parses it (INFO: a dict)."""
        client = Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)
        try:
            return await client.execute_command(*command)  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()

    async def master_port(self) -> int | None:
        """The master every live Sentinel names, or None while they disagree."""
        named = set()
        for port in self.sentinel_ports:
            try:
                answer = await self.ask(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            except RedisError:
                return None
            named.add(int(answer[1]))
        return named.pop() if len(named) == 1 else None

    async def role(self, port: int) -> str | None:
        try:
            info = await self.ask(port, "INFO", "replication")
        except RedisError:
            return None
        if info.get("role") == "master":
            return "master"
        return "replica" if info.get("master_link_status") == "up" else "syncing"

    async def replica_ports(self) -> list[int]:
        """The live servers replicating (link up) right now."""
        live = [p for p in self.data_ports if p not in self.killed]
        return [port for port in live if await self.role(port) == "replica"]

    async def replicas_of(self, port: int) -> int:
        """How many replicas `port` has connected (0 when it does not answer)."""
        try:
            return int((await self.ask(port, "INFO", "replication")).get("connected_slaves", 0))
        except RedisError:
            return 0

    async def _settled(self) -> bool:
        """One master all Sentinels agree on, every other live server a synced replica of it,
        each Sentinel knowing the replicas and the two other Sentinels."""
        master = await self.master_port()
        if master is None or await self.role(master) != "master":
            return False
        try:
            info = await self.ask(master, "INFO", "replication")
        except RedisError:
            return False
        # The master takes writes only once it counts a good replica (`min-replicas-to-write`);
        # it recounts about once a second, so a replica being synced is not yet enough.
        if int(info.get("min_slaves_good_slaves", 0)) < 1:
            return False
        live = [p for p in self.data_ports if p not in self.killed]
        for port in live:
            if port != master and await self.role(port) != "replica":
                return False
        for port in self.sentinel_ports:
            try:
                state = await self.ask(port, "SENTINEL", "MASTER", SERVICE)
            except RedisError:
                return False
            fields = state if isinstance(state, dict) else {}
            replicas = int(fields.get(b"num-slaves", 0))
            others = int(fields.get(b"num-other-sentinels", 0))
            if replicas < len(live) - 1 or others < 2:
                return False
        return True

    async def until(self, condition: Any, what: str, limit_s: float = LIMIT_S) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not await condition():
            if loop.time() > deadline:
                raise AssertionError(f"the Sentinel cluster timed out waiting for {what}")
            await asyncio.sleep(0.05)

    # -- failing over ----------------------------------------------------------------------------
    async def failover(self) -> int:
        """`SENTINEL FAILOVER` (as an operator forces one); returns the new master's port once
        every Sentinel names it and it answers as master."""
        before = await self.master_port()
        # A Sentinel refuses (NOGOODSLAVE) until its periodic INFO has shown it a replica it
        # may promote: ask again until it accepts, as an operator would.
        for _ in range(300):
            try:
                await self.ask(self.sentinel_ports[0], "SENTINEL", "FAILOVER", SERVICE)
                break
            except ResponseError as exc:
                if "NOGOODSLAVE" not in str(exc):
                    raise
                await asyncio.sleep(0.1)  # polling the Sentinel's view, not waiting for a result
        else:
            raise AssertionError("no Sentinel found a replica to promote within 30 s")
        return await self._moved_from(before)

    async def kill_master(self) -> int:
        """SIGKILL the master (a lost machine); returns the new master's port once elected."""
        before = await self.master_port()
        assert before is not None
        self.processes[before].kill()
        self.processes[before].wait(10)
        self.killed.append(before)
        return await self._moved_from(before)

    async def _moved_from(self, before: int | None) -> int:
        async def moved() -> bool:
            now = await self.master_port()
            return now is not None and now != before and await self.role(now) == "master"

        await self.until(moved, f"a new master instead of {before}")
        now = await self.master_port()
        assert now is not None
        return now

    async def settled(self) -> None:
        """Wait until the old master (when alive) replicates the new one again."""
        await self.until(self._settled, "the cluster to settle after the failover")
