"""The watch protocol's edges a real API server (or a broken proxy in front of one) can send and
the Kubernetes double does not: bookmarks, malformed events, a watch that ends at once, a 429
with Retry-After, an event over the budget, and lines cut anywhere. A `PodWatch` is driven here
by a scripted server; tests/gateways/test_pod_watch.py runs it against the double over HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from bot.errors import Throttled
from bot.gateways import pod_watch
from bot.gateways.kubernetes import WATCH_LINE_BYTES, _watch_events
from bot.gateways.pod_watch import PodWatch

NS = "orion-prod"


def pod(name: str, version: str, restarts: int = 0, namespace: str = NS) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"containerStatuses": [{"restartCount": restarts}]},
    }


class Server:
    """Lists and watches as scripted: each watch streams its events, then ends (or hangs)."""

    def __init__(self, pods: list[dict[str, Any]], version: str = "10") -> None:
        self.pods, self.version = pods, version
        self.lists = 0
        self.watches: list[str] = []
        self.scripts: list[list[Any] | Exception] = []
        self.list_errors: list[Exception] = []
        self.hold = asyncio.Event()  # a watch whose script is used up waits on it

    async def listing(self, max_bytes: int) -> tuple[list[Any], str, int]:
        self.lists += 1
        if self.list_errors:
            raise self.list_errors.pop(0)
        items = [orjson.loads(orjson.dumps(p)) for p in self.pods]
        return items, self.version, len(orjson.dumps(items))

    @asynccontextmanager
    async def watching(self, version: str, _timeout_s: int) -> AsyncIterator[AsyncIterator[Any]]:
        self.watches.append(version)
        script = self.scripts.pop(0) if self.scripts else None
        if isinstance(script, Exception):
            raise script

        async def events() -> AsyncIterator[tuple[Any, int]]:
            if script is None:
                await self.hold.wait()
                return
            for event in script:
                yield event, len(orjson.dumps(event))

        yield events()


class Pauses:
    """Stands in for the backoff's sleep: records each pause; the `allowed` first return at
    once, the next waits until the test ends it."""

    def __init__(self, allowed: int) -> None:
        self.seen: list[float] = []
        self.allowed = allowed
        self.parked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        if len(self.seen) > self.allowed:
            self.parked.set()
            await asyncio.Event().wait()


def held(monkeypatch: pytest.MonkeyPatch, allowed: int) -> Pauses:
    """The backoff's sleep replaced: the `allowed` first pauses return at once."""
    pauses = Pauses(allowed)
    monkeypatch.setattr(pod_watch, "_pause", pauses)
    return pauses


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> Pauses:
    return held(monkeypatch, allowed=0)


async def running(server: Server, **kw: Any) -> tuple[PodWatch, asyncio.Task[None]]:
    watch = PodWatch(NS, server.listing, server.watching, **kw)
    return watch, asyncio.create_task(watch.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_bookmark_moves_the_version_and_keeps_the_pods_on_offer(pauses: Pauses) -> None:
    server = Server([pod("a", "5")])
    bookmark = {
        "type": "BOOKMARK",
        "object": {"kind": "Pod", "metadata": {"resourceVersion": "77"}},
    }
    server.scripts = [[bookmark, {"type": "MODIFIED", "object": pod("a", "78", restarts=2)}]]
    watch, task = await running(server)
    await asyncio.wait_for(watch.until(lambda w: w.version == "78"), 5)
    assert [p["status"]["containerStatuses"][0]["restartCount"] for p in watch.pods() or []] == [2]
    await asyncio.wait_for(watch.until(lambda _: len(server.watches) == 2), 5)
    assert server.watches == ["10", "78"]  # resumed from the last version, not listed again
    assert server.lists == 1 and watch.pods() is not None
    await stop(task)
    assert watch.state == "stopped" and watch.pods() is None


@pytest.mark.parametrize(
    "event",
    [
        "not an object",
        {"type": "ADDED"},
        {"type": "ADDED", "object": {"metadata": {"resourceVersion": "11"}}},
        {"type": "ADDED", "object": {"metadata": "a"}},
        {"type": "ADDED", "object": pod("x", "11", namespace="kube-system")},
        {"type": "ADDED", "object": {"metadata": {"name": "x", "namespace": NS}}},
        {"type": "RENAMED", "object": pod("x", "11")},
        {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd"}},
        {"type": "ERROR", "object": "boom"},
        {"type": "BOOKMARK", "object": {"metadata": {}}},
    ],
)
async def test_what_is_not_a_pod_event_takes_the_pods_off_offer_and_is_retried(
    pauses: Pauses, event: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server([pod("a", "5")])
    server.scripts = [[event]]
    with caplog.at_level(logging.INFO, logger="bot.gateways.pod_watch"):
        watch, task = await running(server)
        await asyncio.wait_for(pauses.parked.wait(), 5)
    assert watch.state == "broken" and watch.pods() is None
    assert not task.done()  # still trying
    assert "not watched" in caplog.text and "Traceback" not in caplog.text
    await stop(task)


async def test_an_unexpected_failure_is_logged_whole_and_retried(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    held(monkeypatch, allowed=1)
    server = Server([pod("a", "5")])
    server.list_errors = [RuntimeError("a bug")]
    watch, task = await running(server)
    await asyncio.wait_for(watch.until(lambda w: w.state == "current"), 5)
    assert server.lists == 2
    assert "RuntimeError: a bug" in caplog.text  # with its traceback, once
    await stop(task)


async def test_a_watch_that_ends_at_once_with_nothing_backs_off_instead_of_looping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses = held(monkeypatch, allowed=4)
    server = Server([pod("a", "5")])
    server.scripts = [[] for _ in range(10)]  # each watch: 200, then nothing
    watch, task = await running(server)
    await asyncio.wait_for(pauses.parked.wait(), 5)
    assert len(server.watches) == 5 and server.lists == 5
    assert pauses.seen == sorted(pauses.seen) and pauses.seen[-1] > 4 * pauses.seen[0]  # growing
    assert watch.pods() is None
    await stop(task)


async def test_a_throttled_watch_waits_as_long_as_the_server_asks(pauses: Pauses) -> None:
    server = Server([pod("a", "5")])
    server.scripts = [Throttled("slow down", retry_after=7.0)]
    _watch, task = await running(server)
    await asyncio.wait_for(pauses.parked.wait(), 5)
    assert pauses.seen[0] >= 7.0
    await stop(task)


async def test_an_expired_version_lists_again_at_once_then_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses = held(monkeypatch, allowed=1)
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
    server = Server([pod("a", "5")])
    server.scripts = [[gone], [gone], [gone]]
    _watch, task = await running(server)
    await asyncio.wait_for(pauses.parked.wait(), 5)
    assert server.lists == 3 and len(pauses.seen) == 2  # the first 410 listed again at once
    await stop(task)


async def test_a_new_pod_past_the_budget_stops_keeping_the_namespace(pauses: Pauses) -> None:
    server = Server([pod("a", "5")])
    big = pod("b", "11")
    big["metadata"]["labels"] = {"blob": "x" * 5000}
    server.scripts = [[{"type": "MODIFIED", "object": big}]]  # first seen as MODIFIED
    watch, task = await running(server, room=lambda: 3000)
    await asyncio.wait_for(watch.until(lambda w: w.state == "too-many"), 5)
    assert watch.pods() is None and watch.kept_bytes == 0
    assert pauses.seen == [pod_watch.TOO_MANY_RETRY_S]  # tried again, much later
    await stop(task)


class Chunks:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def events_of(chunks: list[bytes]) -> list[tuple[Any, int]]:
    return [e async for e in _watch_events(Chunks(chunks))]  # type: ignore[arg-type]


async def test_watch_lines_are_read_wherever_the_chunks_cut_them() -> None:
    lines = [orjson.dumps({"type": "ADDED", "object": pod(f"p{i}", str(i))}) for i in range(50)]
    stream = b"\n".join(lines) + b"\n"
    whole = await events_of([stream])
    assert [e["object"]["metadata"]["name"] for e, _ in whole] == [f"p{i}" for i in range(50)]
    assert [size for _, size in whole] == [len(line) for line in lines]
    bytewise = await events_of([stream[i : i + 7] for i in range(0, len(stream), 7)])
    assert bytewise == whole
    assert await events_of([b"\n" * 100_000]) == []  # blank lines: nothing, and no stall
    assert await events_of([lines[0] + b"\n", lines[1]]) == whole[:1]  # a cut-off last line


async def test_a_watch_line_longer_than_any_object_ends_the_watch() -> None:
    with pytest.raises(ValueError, match="longer than"):
        await events_of([b"x" * (WATCH_LINE_BYTES // 2)] * 3)
