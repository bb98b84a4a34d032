"""A real Redis Sentinel cluster for the failover tests (tests/sentinel_cluster.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.server import RedisHandle, connect
from tests.sentinel_cluster import SentinelCluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[SentinelCluster]:
    """A master, two replicas, three Sentinels: one replica is left to confirm writes when
    the other is promoted (docs/decisions/ha.md)."""
    async with SentinelCluster(tmp_path, replicas=2) as running:
        yield running


@pytest.fixture
async def sentinel_redis(cluster: SentinelCluster, prefix: str) -> AsyncIterator[RedisHandle]:
    """Fireline's Redis client on that cluster, through its Sentinels."""
    handle = connect(cluster.storage(prefix))
    yield handle
    await handle.close()
