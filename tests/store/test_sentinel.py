"""Redis through Sentinel: the settings, the client `connect()` makes, and what a write a
person is told about needs (a replica holding it), against real `redis-server` processes
(a master, a replica, three Sentinels: tests/sentinel_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigurationError, Unavailable
from bot.settings import load_settings, load_storage_settings
from bot.store.cas import Decision, compare_and_set
from bot.store.server import RedisHandle
from tests.sentinel_cluster import SentinelCluster

# -- the settings --------------------------------------------------------------------------------


def test_sentinels_are_read_as_host_port_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRELINE_REDIS_SENTINELS", "10.0.0.5:26379, sentinel-b:26380,")
    monkeypatch.setenv("FIRELINE_REDIS_SENTINEL_MASTER", "fireline")
    monkeypatch.delenv("REDIS_URL", raising=False)
    storage = load_storage_settings()
    assert storage.redis_sentinels == (("10.0.0.5", 26379), ("sentinel-b", 26380))
    assert storage.redis_sentinel_master == "fireline"
    assert storage.replica_acks == 1, "with Sentinel, a person's writes wait for a replica"


@pytest.mark.parametrize("bad", ["sentinel-b", "10.0.0.5:port", "10.0.0.5:70000", ":26379"])
def test_a_bad_sentinel_entry_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("FIRELINE_REDIS_SENTINELS", f"10.0.0.5:26379,{bad}")
    with pytest.raises(ConfigurationError) as caught:
        load_storage_settings()
    assert f"FIRELINE_REDIS_SENTINELS has '{bad}', which is not host:port" in str(caught.value)


def test_sentinels_and_a_redis_url_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRELINE_REDIS_SENTINELS", "10.0.0.5:26379")
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.5:6379/0")
    with pytest.raises(ConfigurationError, match="FIRELINE_REDIS_SENTINELS and REDIS_URL"):
        load_storage_settings()


def test_the_password_comes_from_a_file_and_is_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("s3cret-from-a-mounted-secret\n", encoding="utf-8")
    monkeypatch.setenv("FIRELINE_REDIS_PASSWORD_FILE", str(secret))
    monkeypatch.delenv("FIRELINE_REDIS_PASSWORD", raising=False)
    storage = load_storage_settings()
    assert storage.redis_secret() == "s3cret-from-a-mounted-secret"
    assert "s3cret" not in repr(storage)
    monkeypatch.setenv("FIRELINE_REDIS_PASSWORD", "another")
    with pytest.raises(ConfigurationError, match="PASSWORD and FIRELINE_REDIS_PASSWORD_FILE"):
        load_storage_settings()


def test_the_redis_passwords_are_redacted_from_logs() -> None:
    from bot.runtime.redaction import redact

    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-1-2-3",
        slack_signing_secret="signing",
        redis_sentinels="127.0.0.1:26379",
        redis_password="data-node-pass",
        redis_sentinel_password="sentinel-pass",
    )
    line = "AUTH failed for data-node-pass at sentinel sentinel-pass"
    assert (
        redact(line, settings.secret_values())
        == "AUTH failed for [redacted] at sentinel [redacted]"
    )


# -- against the cluster -------------------------------------------------------------------------


@pytest.mark.process
@pytest.mark.slow
async def test_writes_follow_the_master_through_a_failover(
    cluster: SentinelCluster, sentinel_redis: RedisHandle, prefix: str
) -> None:
    async def write(key: str, value: str) -> None:
        await compare_and_set(
            sentinel_redis.client,
            key,
            lambda _: Decision(None, lambda p: p.set(key, value)),
            gave_up="",
        )

    await write(f"{prefix}before", "1")  # confirmed on a replica
    # A planned switchover (`SENTINEL FAILOVER`) may promote the replica that did not confirm
    # it; docs/decisions/ha.md says to confirm on every replica for one (REPLICA_ACKS = their
    # number), which is what waiting for both here stands for. A lost master is the other test.
    replicas = await cluster.replica_ports()

    async def on_every_replica() -> bool:
        got = [await cluster.ask(port, "GET", f"{prefix}before") for port in replicas]
        return got == [b"1"] * len(replicas)

    await cluster.until(on_every_replica, "the write on every replica")
    new_master = await cluster.failover()

    # Writes made while the old master still answers are not confirmed (Unavailable, never
    # redis-py's exception, nor "done"); the client then finds the new master by itself.
    async def written() -> bool:
        try:
            await write(f"{prefix}after", "2")
        except Unavailable:
            return False
        return True

    await cluster.until(written, "a confirmed write on the new master")
    assert await cluster.ask(new_master, "GET", f"{prefix}before") == b"1"
    assert await cluster.ask(new_master, "GET", f"{prefix}after") == b"2"


@pytest.mark.process
@pytest.mark.slow
async def test_a_write_no_replica_confirms_is_not_reported_done(
    cluster: SentinelCluster, sentinel_redis: RedisHandle, prefix: str
) -> None:
    for replica in await cluster.replica_ports():
        await cluster.ask(replica, "REPLICAOF", "NO", "ONE")  # the replicas stop following
    master = await cluster.master_port()
    assert master is not None

    async def alone() -> bool:
        return await cluster.replicas_of(master) == 0

    await cluster.until(alone, "the master to see its replica gone")
    key = f"{prefix}k"

    async def write() -> None:
        await compare_and_set(
            sentinel_redis.client,
            key,
            lambda _: Decision(None, lambda p: p.set(key, "v")),
            gave_up="",
        )

    # The server refuses it (min-replicas-to-write), and the person is told it did not happen.
    with pytest.raises(Unavailable, match="Redis did not answer"):
        await write()
    # A server without that setting takes it, and WAIT is what keeps it from being "done".
    await cluster.ask(master, "CONFIG", "SET", "min-replicas-to-write", "0")
    with pytest.raises(Unavailable, match="could not confirm the change on a replica"):
        await write()
    assert await cluster.ask(master, "GET", key) == b"v", "made on the master, not confirmed"
