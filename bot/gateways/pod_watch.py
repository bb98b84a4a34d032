"""A namespace's pods, kept current by a watch (an informer, as client-go calls it).

`diagnose` reads the logs of the pods that matter, and could not know which before the pod
list answered: two round trips where the rest of its reads take one. With the pods already
here, it asks for the logs beside everything else (docs/decisions/diagnosis.md, "A first
diagnosis takes two round trips").

How it stays true, as client-go's reflector does it: list (which gives a resourceVersion), then
watch from that version and apply each ADDED, MODIFIED and DELETED; a watch the server ends
(its `timeoutSeconds`) is resumed from the last version seen; a version too old (410 Gone)
means a fresh list. Whenever the watch is broken, the pods are not offered (`pods()` answers
None) until a new list has arrived: a reader then lists for itself, as it would with no watch,
and never reads pods that may have changed unseen. A connection that goes silent ends after
the watch's own timeout plus a margin (`READ_MARGIN_S`), so a dead connection cannot keep stale
pods on offer for longer than that.

Bounded: a pod is kept with only what `diagnose` reads (`slim`: no `managedFields`, no
last-applied annotation, of its spec only the node and the containers' names, images and
resources); a namespace whose pods would take a cluster over `POD_BUDGET` is not kept at all
(readers list, as before); and failures are retried with a backoff up to `MAX_BACKOFF_S`,
logged once per outage, not once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.errors import FirelineError, Forbidden

log = logging.getLogger(__name__)
Obj = dict[str, Any]

POD_BUDGET = 4000
"""Pods kept at most across one cluster's watched namespaces: ~8 KB each once slimmed, measured
on the double's pods (docs/benchmarks.md), up to twice that for pods with long statuses, so
some 32-64 MB of the deployment's 512 MiB limit. A namespace that would go over is not kept."""
WATCH_TIMEOUT_S = (300, 600)
"""The server ends each watch after a time drawn from this range, as client-go's reflector asks
(5-10 min), so replicas do not all reconnect at once."""
READ_MARGIN_S = 30.0
"""How long past the watch's own timeout a silent connection is still waited on."""
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 60.0
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Listing = Callable[[], Awaitable[tuple[list[Obj], str]]]
"""The namespace's pods and the list's resourceVersion."""
Watching = Callable[[str, int], AbstractAsyncContextManager[AsyncIterator[Obj]]]
"""A watch from a resourceVersion, ended by the server after the given seconds: its events."""


async def _pause(seconds: float) -> None:
    """The wait before trying again (a test holds it)."""
    await asyncio.sleep(seconds)


class Expired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class TooMany(Exception):
    """The namespace has more pods than are kept."""


KEPT_CONTAINER = ("name", "image", "resources")


def slim(pod: Obj) -> Obj:
    """The pod with what `diagnose` reads: its metadata but the `managedFields` and the
    last-applied annotation, its status, and of its spec the node and each container's name,
    image and resources (env, probes, volumes and mounts are most of a spec's size)."""
    meta = pod.get("metadata")
    if isinstance(meta, dict):
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
                for c in containers
                if isinstance(c, dict)
            ]
            if isinstance(containers, list)
            else [],
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
        room: Callable[[], int] = lambda: POD_BUDGET,
    ) -> None:
        """`room`: how many pods this namespace may keep (the budget less what the cluster's
        other watches keep)."""
        self.namespace = namespace
        self._list = listing
        self._watch = watching
        self.room = room
        self._pods: dict[str, Obj] = {}
        self._synced = False
        self.version = ""
        self.lists = 0
        """Lists made (the first, then one after each break)."""
        self.watches = 0
        """Times the pods went on offer (a list, then a watch that opened)."""
        self.state = "starting"
        """starting, current, expired (listing again), broken (retrying), too-many (not kept),
        stopped."""
        self._changed = asyncio.Condition()

    @property
    def kept(self) -> int:
        return len(self._pods)

    def pods(self) -> list[Obj] | None:
        """The namespace's pods, current as of the last event; None when not known to be (the
        reader lists instead). The objects are shared: read them, never change them."""
        return list(self._pods.values()) if self._synced else None

    async def until(self, check: Callable[[PodWatch], bool]) -> None:
        """Wait until `check` holds, looked at after each change (tests, the benchmark)."""
        async with self._changed:
            await self._changed.wait_for(lambda: check(self))

    async def run(self) -> None:
        """List and watch until cancelled; never raises otherwise."""
        backoff = MIN_BACKOFF_S
        try:
            while True:
                opened = self.watches
                try:
                    await self._list_and_watch()
                except TooMany:
                    log.warning(
                        "not keeping the pods of %s: more than the %d pods kept at most "
                        "(diagnose lists them instead)", self.namespace, POD_BUDGET,
                    )  # fmt: skip
                    self._pods = {}
                    await self._set(False, "too-many")
                    return
                except Expired:
                    await self._set(False, "expired")
                    continue  # list again at once: the server answered, it is not down
                except (FirelineError, OSError, ValueError) as exc:
                    if self.watches > opened:  # it was current: a new outage, said once
                        backoff = MIN_BACKOFF_S
                    if self.state != "broken" and isinstance(exc, Forbidden):
                        log.warning(
                            "pods of %s not watched: %s. Grant list and watch on pods "
                            "(deploy/kubernetes/rbac.yaml); diagnose lists them meanwhile",
                            self.namespace, exc,
                        )  # fmt: skip
                    elif self.state != "broken":
                        log.info(
                            "pods of %s not watched (%s); retrying, and diagnose lists them "
                            "meanwhile", self.namespace, exc,
                        )  # fmt: skip
                    await self._set(False, "broken")
                    await _pause(backoff * random.uniform(0.8, 1.2))
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            self._synced = False
            if self.state != "too-many":
                self.state = "stopped"

    async def _list_and_watch(self) -> None:
        items, version = await self._list()
        self.lists += 1
        if len(items) > self.room():
            raise TooMany
        self._pods = {p["metadata"]["name"]: slim(p) for p in items}
        self.version = version
        while True:
            # A watch the server ended (its timeout) resumes from the last version: nothing was
            # missed, so the pods stay on offer meanwhile. Anything else raises.
            timeout = random.randint(*WATCH_TIMEOUT_S)
            async with self._watch(self.version, timeout) as events:
                # On offer once a watch follows the list: a list alone goes stale unseen.
                if not self._synced:
                    if self.state == "broken":
                        log.info("pods of %s watched again", self.namespace)
                    self.watches += 1
                    await self._set(True, "current")
                async for event in events:
                    await self._apply(event)

    async def _apply(self, event: Obj) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if kind == "ERROR" and isinstance(obj, dict):  # a Status
            if obj.get("code") == 410:
                raise Expired
            raise ValueError(f"the watch failed: {obj.get('message') or obj.get('reason')}")
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise ValueError(f"a watch event without an object: {str(event)[:200]}")
        meta = obj["metadata"]
        version = str(meta.get("resourceVersion") or "")
        if kind in ("ADDED", "MODIFIED"):
            self._pods[str(meta.get("name"))] = slim(obj)
            if kind == "ADDED" and len(self._pods) > self.room():
                raise TooMany
        elif kind == "DELETED":
            self._pods.pop(str(meta.get("name")), None)
        elif kind != "BOOKMARK":
            raise ValueError(f"an unknown watch event: {kind!r}")
        if version:
            self.version = version
        async with self._changed:
            self._changed.notify_all()

    async def _set(self, synced: bool, state: str) -> None:
        self._synced, self.state = synced, state
        async with self._changed:
            self._changed.notify_all()
