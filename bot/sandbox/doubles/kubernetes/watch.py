"""Watches and followed logs: the streaming answers kubectl waits on.

`kubectl get -w`, `rollout status`, `delete` (waiting for the object to go) and informers
watch; `kubectl logs -f` follows. Both stream over one chunked HTTP response, one JSON event per
line for watches (`{"type": "MODIFIED", "object": …}`) as the API server sends them, and are
woken by the cluster's change feed (`Cluster.subscribe`), so they answer a write at once rather
than on a poll. A watch resumed from a resourceVersion replays the changes after it, or answers
410 Gone (as an ERROR event) when the history no longer reaches back that far, and a label or
field selector turns an object that starts or stops matching into ADDED or DELETED, as the
watch cache does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from bot.sandbox.doubles.kubernetes.errors import ApiError
from bot.sandbox.doubles.kubernetes.logs import log_lines, render_lines
from bot.sandbox.doubles.kubernetes.selectors import (
    FieldRequirement,
    Requirement,
    matches_fields,
    matches_labels,
)
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

DEFAULT_TIMEOUT_S = 1800.0
Render = Callable[[Obj], Obj]


class Wakeup:
    """An asyncio.Event set from any thread whenever the cluster changes."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def _set(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(self.event.set)

    def __enter__(self) -> Wakeup:
        self.cluster.subscribe(self._set)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.unsubscribe(self._set)

    async def wait(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), at_most)
        self.event.clear()


def _timeout(query: dict[str, str]) -> float:
    try:
        value = float(query.get("timeoutSeconds", DEFAULT_TIMEOUT_S))
    except ValueError:
        raise ApiError(400, "timeoutSeconds: must be an integer") from None
    return value if value > 0 else DEFAULT_TIMEOUT_S


async def _start(request: web.Request, content_type: str) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def watch(
    request: web.Request,
    cluster: Cluster,
    *,
    api_version: str,
    kind: str,
    namespace: str | None,
    labels: list[Requirement],
    fields: list[FieldRequirement],
    query: dict[str, str],
    render: Render,
    content_type: str,
    closing: asyncio.Event,
    on_serve: Callable[[Obj], None],
) -> web.StreamResponse:
    """Stream watch events for objects of `api_version`/`kind` until the timeout, the client
    going away or the server stopping."""

    def selected(obj: Obj | None) -> bool:
        if obj is None or obj["apiVersion"] != api_version or obj["kind"] != kind:
            return False
        if namespace is not None and obj["metadata"].get("namespace") != namespace:
            return False
        return matches_labels(obj["metadata"].get("labels"), labels) and matches_fields(obj, fields)

    deadline = asyncio.get_running_loop().time() + _timeout(query)
    requested = query.get("resourceVersion", "")
    with Wakeup(cluster) as wakeup:
        with cluster.lock:
            current = int(cluster.resource_version)
            initial: list[Obj] = []
            if requested in ("", "0"):
                initial = [o for o in cluster.select(api_version, kind, namespace, labels, fields)]
                since = current
            else:
                try:
                    since = int(requested)
                except ValueError:
                    raise ApiError(400, f"invalid resource version: {requested}") from None
        response = await _start(request, content_type)

        async def send(kind_: str, obj: Obj) -> None:
            rendered = render(obj)
            on_serve(rendered)
            await response.write(orjson.dumps({"type": kind_, "object": rendered}) + b"\n")

        try:
            for obj in initial:
                await send("ADDED", obj)
            while not closing.is_set():
                changes = cluster.changes_since(since)
                if changes is None:
                    gone = ApiError(
                        410, f"too old resource version: {since} ({current})", "Expired"
                    )
                    await response.write(
                        orjson.dumps({"type": "ERROR", "object": gone.status()}) + b"\n"
                    )
                    break
                for change in changes:
                    since = change.resource_version
                    now_in, was_in = selected(change.obj), selected(change.previous)
                    if change.type == "DELETED":
                        if now_in:
                            await send("DELETED", change.obj)
                    elif change.type == "ADDED":
                        if now_in:
                            await send("ADDED", change.obj)
                    elif now_in and was_in:
                        await send("MODIFIED", change.obj)
                    elif now_in:
                        await send("ADDED", change.obj)
                    elif was_in:
                        await send("DELETED", change.obj)
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                await _wait_or_close(wakeup.wait(min(remaining, 1.0)), closing)
        except ConnectionError:  # the client went away (kubectl -w stopped): nothing to tell
            return response
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def _wait_or_close(waiting: Awaitable[None], closing: asyncio.Event) -> None:
    closed = asyncio.ensure_future(closing.wait())
    woken = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait({closed, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (closed, woken):
            task.cancel()


async def follow_log(
    request: web.Request,
    cluster: Cluster,
    namespace: str,
    pod: str,
    query: dict[str, str],
    closing: asyncio.Event,
) -> web.StreamResponse:
    """`kubectl logs -f`: the lines the query selects, then each new line as it is written,
    until the pod is gone (or the client, or the server, goes away)."""
    with Wakeup(cluster) as wakeup:
        container, lines, sent = log_lines(cluster, namespace, pod, query)
        response = await _start(request, "text/plain")
        stamps = query.get("timestamps", "false").lower() in ("true", "1")
        await response.write(render_lines(lines, stamps).encode())
        last = lines[-1][0] if lines else cluster.now()
        while not closing.is_set():
            await _wait_or_close(wakeup.wait(1.0), closing)
            with cluster.lock:
                found = cluster.get("v1", "Pod", namespace, pod)
                if found is None:
                    break
                current = cluster.container_logs(namespace, pod, container).current
                fresh, sent = current[sent:], len(current)
                if cluster.life is not None:  # the living cluster's lines written since
                    more = cluster.life.log_lines(
                        cluster, found, container, previous=False, since=last
                    )
                    fresh = sorted(fresh + [entry for entry in more if entry[0] > last])
                    last = max([last, *(entry[0] for entry in fresh)])
            if fresh:
                await response.write(render_lines(fresh, stamps).encode())
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
