"""A namespace's pods, kept current by a watch (an informer, as client-go calls it).

`diagnose` reads the logs of the pods that matter, and could not know which before the pod
list answered: two round trips where the rest of its reads take one. With the pods already
here, it asks for the logs beside everything else (docs/decisions/diagnosis.md, "The
namespace's pods, kept by a watch").

How it stays true, as client-go's reflector does it: list (which gives a resourceVersion), then
watch from that version and apply each ADDED, MODIFIED and DELETED (a BOOKMARK only moves the
version); a watch the server ends after a while resumes from the last version seen; a version
too old (410 Gone, as a status or an ERROR event) means a fresh list. The pods are on offer only
while a watch that followed a list is open: from any break (a dropped connection, an error, a
malformed event, a watch that ends at once with nothing) until a new list and watch are up,
`pods()` answers None, and a reader lists for itself as it would with no watch. The server ends
each watch after `WATCH_TIMEOUT_S` and a silent connection is given up `READ_MARGIN_S` past that,
so a dead connection keeps stale pods on offer for `WATCH_TIMEOUT_S[1] + READ_MARGIN_S` at most.

Bounded, whatever the server sends: a pod is kept with only what `diagnose` reads (`slim`); the
pods kept across a cluster's namespaces weigh at most `BYTES_BUDGET` as received (the list is
read no further, and a namespace that would go over is not kept, and tried again after
`TOO_MANY_RETRY_S`); an object that is not a pod of this namespace breaks the watch rather than
being kept; and every failure is retried after a backoff (up to `MAX_BACKOFF_S`, reset only
after a watch has stayed up `HEALTHY_S`), logged once an outage, not once an attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.errors import Forbidden, TemporaryError

log = logging.getLogger(__name__)
Obj = dict[str, Any]

BYTES_BUDGET = 16 * 1024 * 1024
"""The pods kept across one cluster's watched namespaces, at most, in bytes of JSON as received.
Kept in Python (slimmed) they take about 3.3 times that (measured on the double's pods,
docs/benchmarks.md): ~50 MB of the deployment's 512 MiB limit at most, some 2,000-7,000 pods."""
WATCH_TIMEOUT_S = (60, 120)
"""The server ends each watch after a time drawn from this range (resumed at once, no list), so
replicas do not all reconnect together and a silent connection is noticed within minutes."""
READ_MARGIN_S = 15.0
"""How long past the watch's own timeout a silent connection is still waited on."""
SHORT_WATCH_S = 1.0
"""A watch that ends sooner than this with no event is a failure (client-go's "very short
watch"): resuming it at once would loop at the speed of the network."""
HEALTHY_S = 60.0
"""A watch must stay up this long before a later failure starts the backoff from its minimum."""
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 60.0
TOO_MANY_RETRY_S = 600.0
"""How long a namespace too large to keep waits before it is tried again."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KEPT_CONTAINER = ("name", "image", "resources")

Listing = Callable[[int], Awaitable[tuple[list[Any], str, int]]]
"""The namespace's pods read up to the given number of bytes (`TooMany` past it): the items,
the list's resourceVersion and the bytes read."""
Watching = Callable[[str, int], AbstractAsyncContextManager[AsyncIterator[tuple[Any, int]]]]
"""A watch from a resourceVersion, ended by the server after the given seconds: each event,
decoded, with the bytes of its line."""


class Expired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class TooMany(Exception):
    """The namespace's pods would take the cluster over `BYTES_BUDGET`."""


async def _pause(seconds: float) -> None:
    """The wait before trying again (a test holds it)."""
    await asyncio.sleep(seconds)


def slim(pod: Obj) -> Obj:
    """The pod with what `diagnose` reads: its metadata but the `managedFields` and the
    last-applied annotation, its status, and of its spec the node and each container's name,
    image and resources (env, probes, volumes and mounts are most of a spec's size)."""
    meta = pod["metadata"]
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    spec = pod.get("spec")
    if isinstance(spec, dict):
        containers = spec.get("containers")
        pod["spec"] = {
            "nodeName": spec.get("nodeName"),
            "containers": [
                {k: c[k] for k in KEPT_CONTAINER if k in c}
                for c in (containers if isinstance(containers, list) else [])
                if isinstance(c, dict)
            ],
        }
    return pod


class PodWatch:
    """The pods of one namespace, while a watch keeps them current (`run` keeps it going)."""

    def __init__(
        self,
        namespace: str,
        listing: Listing,
        watching: Watching,
        *,
        room: Callable[[], int] = lambda: BYTES_BUDGET,
    ) -> None:
        """`room`: the bytes this namespace may keep (the budget less what the cluster's other
        watches keep)."""
        self.namespace = namespace
        self._list = listing
        self._watch = watching
        self.room = room
        self._pods: dict[str, Obj] = {}
        self._sizes: dict[str, int] = {}
        self.kept_bytes = 0
        self._synced = False
        self.version = ""
        self.lists = 0
        """Lists made (the first, then one after each break)."""
        self.state = "starting"
        """starting, current, expired (listing again), broken (retrying), too-many (not kept,
        tried again later), stopped."""
        self._pulse = asyncio.Event()

    def pods(self) -> list[Obj] | None:
        """The namespace's pods, current as of the last event; None when not known to be (the
        reader lists instead). The objects are shared: read them, never change them."""
        return list(self._pods.values()) if self._synced else None

    async def until(self, check: Callable[[PodWatch], bool]) -> None:
        """Wait until `check` holds, looked at after each change (tests, the benchmark)."""
        while not check(self):
            await self._pulse.wait()

    def _changed(self) -> None:
        pulse, self._pulse = self._pulse, asyncio.Event()
        pulse.set()

    def _set(self, synced: bool, state: str) -> None:
        self._synced, self.state = synced, state
        if not synced:
            self._pods, self._sizes, self.kept_bytes = {}, {}, 0
        self._changed()

    async def run(self) -> None:
        """List and watch until cancelled. Never raises otherwise: whatever goes wrong takes the
        pods off offer, is logged, and is tried again after a backoff."""
        backoff = MIN_BACKOFF_S
        loop = asyncio.get_running_loop()
        expired_at = float("-inf")
        try:
            while True:
                started = loop.time()
                try:
                    await self._list_and_watch()
                except TooMany:
                    log.warning(
                        "not keeping the pods of %s: they would take this cluster's kept pods "
                        "over %d MiB (diagnose lists them instead; tried again in %.0f min)",
                        self.namespace, BYTES_BUDGET // 2**20, TOO_MANY_RETRY_S / 60,
                    )  # fmt: skip
                    self._set(False, "too-many")
                    await _pause(TOO_MANY_RETRY_S)
                    continue
                except Expired:
                    now = loop.time()
                    again, expired_at = now - expired_at < HEALTHY_S, now
                    self._set(False, "expired")
                    if again:  # 410 after 410: the server is not well, do not list in a loop
                        await _pause(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                except Exception as exc:  # anything from outside: logged, retried
                    if self._synced and loop.time() - started >= HEALTHY_S:
                        backoff = MIN_BACKOFF_S
                    self._report(exc)
                    self._set(False, "broken")
                    asked = getattr(exc, "retry_after", None) or 0.0  # a 429's Retry-After
                    await _pause(max(backoff * random.uniform(0.8, 1.2), asked))
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            self._set(False, "stopped")

    def _report(self, exc: Exception) -> None:
        if self.state == "broken":
            return  # said when the outage began
        if isinstance(exc, Forbidden):
            log.warning(
                "pods of %s not watched: %s. Grant list and watch on pods "
                "(deploy/kubernetes/rbac.yaml); diagnose lists them meanwhile",
                self.namespace, exc,
            )  # fmt: skip
        elif isinstance(exc, TemporaryError | ValueError | OSError):
            log.info(
                "pods of %s not watched (%s); retrying, and diagnose lists them meanwhile",
                self.namespace, exc,
            )  # fmt: skip
        else:
            log.exception("pods of %s not watched: unexpected failure; retrying", self.namespace)

    async def _list_and_watch(self) -> None:
        loop = asyncio.get_running_loop()
        items, version, size = await self._list(max(0, self.room()))
        self.lists += 1
        if not version:
            raise ValueError("a pod list without a resourceVersion")
        each = size // max(1, len(items))
        pods: dict[str, Obj] = {}
        for item in items:
            pods[self._name(item)] = slim(item)
        self._pods, self._sizes = pods, dict.fromkeys(pods, each)
        self.kept_bytes, self.version = each * len(pods), version
        while True:
            timeout = random.randint(*WATCH_TIMEOUT_S)
            opened, events = loop.time(), 0
            async with self._watch(self.version, timeout) as stream:
                # On offer once a watch follows the list: a list alone goes stale unseen.
                if not self._synced:
                    if self.lists > 1:
                        log.info("pods of %s watched again", self.namespace)
                    self._set(True, "current")
                async for event, line_bytes in stream:
                    events += 1
                    self._apply(event, line_bytes)
            # The server ended it (its timeout): resumed from the last version, nothing missed,
            # the pods stay on offer. One that ends at once with nothing is a failure.
            if events == 0 and loop.time() - opened < SHORT_WATCH_S:
                raise ValueError("the watch ended at once with no event")

    def _name(self, obj: Any) -> str:
        """The name of a pod of this namespace; anything else breaks the watch."""
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(name, str) or not name:
            raise ValueError(f"not a pod: {str(obj)[:200]}")
        if meta.get("namespace", self.namespace) != self.namespace:
            raise ValueError(f"a pod of another namespace in the watch of {self.namespace}")
        return name

    def _apply(self, event: Any, line_bytes: int) -> None:
        kind = event.get("type") if isinstance(event, dict) else None
        obj = event.get("object") if isinstance(event, dict) else None
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                raise Expired
            reason = obj.get("message") or obj.get("reason") if isinstance(obj, dict) else obj
            raise ValueError(f"the watch failed: {str(reason)[:200]}")
        if kind == "BOOKMARK":
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            version = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if not isinstance(version, str) or not version:
                raise ValueError("a bookmark without a resourceVersion")
            self.version = version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise ValueError(f"an unknown watch event: {str(kind)[:50]!r}")
        name = self._name(obj)
        assert isinstance(obj, dict)
        version = obj["metadata"].get("resourceVersion")
        if not isinstance(version, str) or not version:
            raise ValueError("a watch event without a resourceVersion")
        before = self._sizes.pop(name, 0)
        self.kept_bytes -= before
        self._pods.pop(name, None)
        if kind != "DELETED":
            if self.kept_bytes + line_bytes > self.room():
                raise TooMany
            self._pods[name] = slim(obj)
            self._sizes[name] = line_bytes
            self.kept_bytes += line_bytes
        self.version = version
        self._changed()
