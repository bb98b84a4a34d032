"""`Cluster`: the double's state, shared between the test thread and the server thread.

Objects are kept by (apiVersion, kind, namespace, name) and always handed out as deep
copies, so callers never mutate stored state by accident. Every write takes a fresh,
monotonically increasing resourceVersion. Logs, metrics usage and controller bookkeeping
live beside the objects because the API server keeps them outside the objects too.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.sandbox.doubles.kubernetes.clock import Clock, SystemClock, format_time
from bot.sandbox.doubles.kubernetes.errors import already_exists, not_found
from bot.sandbox.doubles.kubernetes.resources import by_kind
from bot.sandbox.doubles.kubernetes.selectors import (
    FieldRequirement,
    Requirement,
    matches_fields,
    matches_labels,
)

if TYPE_CHECKING:
    from bot.sandbox.doubles.kubernetes.life import Life

ObjectKey = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" if cluster-scoped), name
Obj = dict[str, Any]
ObjList = list[Obj]  # module-level: inside Cluster, `list` names the method

_GENERATION_KINDS = {"Deployment", "ReplicaSet", "HorizontalPodAutoscaler"}
HISTORY = 5000
"""Changes kept for watches that resume from a resourceVersion (etcd's compaction window):
a watch from an older one gets 410 Gone, as from a compacted etcd."""


@dataclass(frozen=True)
class Change:
    """One write, as a watch sees it: the object after it (before it, for DELETED)."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    previous: Obj | None = None


@dataclass
class ContainerLogs:
    """Log lines of one container: the running instance and the previous (terminated) one."""

    current: list[tuple[datetime, str]] = field(default_factory=list)
    previous: list[tuple[datetime, str]] | None = None


@dataclass
class Timing:
    """Delays of the simulated controllers, in seconds of the cluster clock."""

    rollout_step: float = 0.05
    pod_ready: float = 0.05
    pod_terminate: float | None = None
    """How long a deleted pod stays Terminating before its containers have stopped (at most
    its grace period); None: as long as a new pod takes to become Ready."""

    def termination(self, grace: float) -> float:
        return min(grace, self.pod_ready if self.pod_terminate is None else self.pod_terminate)


def _key(obj: Obj) -> ObjectKey:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _without_rv(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _plural(api_version: str, kind: str) -> tuple[str, str]:
    resource = by_kind(api_version, kind)
    group = api_version.rpartition("/")[0]
    return (resource.plural if resource else kind.lower() + "s"), group


class Cluster:
    """Thread-safe object store with resourceVersions, uids and an injectable clock."""

    def __init__(
        self, clock: Clock | None = None, *, timing: Timing | None = None, seed: int = 0
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.timing = timing or Timing()
        self.lock = threading.RLock()
        self.random = random.Random(seed)
        self._objects: dict[ObjectKey, Obj] = {}
        self._resource_version = 1000
        self.logs: dict[tuple[str, str, str], ContainerLogs] = {}
        # (namespace, pod) -> container -> (cpu nanocores, memory bytes)
        self.pod_usage: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        self.node_usage: dict[str, tuple[int, int]] = {}
        # (namespace, pod) -> when the simulated kubelet reports the pod Ready
        self.pod_ready_at: dict[tuple[str, str], datetime] = {}
        # (namespace, deployment) -> earliest time of the next rollout step
        self.rollout_next_step: dict[tuple[str, str], datetime] = {}
        # (namespace, pod) -> when the simulated kubelet has stopped a Terminating pod
        self.pod_gone_at: dict[tuple[str, str], datetime] = {}
        # every write, for watches; and who to tell (from any thread) that one happened
        self.history: deque[Change] = deque(maxlen=HISTORY)
        self._listeners: set[Callable[[], None]] = set()
        # what the controller last saw when a run of it changed nothing, and until when the
        # clock does not matter to it (controller.reconcile_if_due)
        self.settled: tuple[tuple[object, ...], datetime] | None = None
        self.life: Life | None = None
        """What makes the cluster live (logs, usage and failures from the clock); None: a
        static cluster, whose logs and usage are what was written."""

    # -- bookkeeping -------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[Cluster]:
        with self.lock:
            yield self

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def resource_version(self) -> str:
        with self.lock:
            return str(self._resource_version)

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the writing thread, under the lock: keep it short) after every
        write and every log line."""
        with self.lock:
            self._listeners.add(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with self.lock:
            self._listeners.discard(listener)

    def notify(self) -> None:
        with self.lock:
            for listener in list(self._listeners):
                listener()

    def _record(self, kind: str, obj: Obj, previous: Obj | None = None) -> None:
        self.history.append(Change(self._resource_version, kind, obj, previous))
        self.notify()

    def changes_since(self, resource_version: int) -> list[Change] | None:
        """Changes after `resource_version`, or None when the history no longer reaches back
        that far (a watch from there must start over)."""
        with self.lock:
            full = len(self.history) == self.history.maxlen
            if full and self.history[0].resource_version > resource_version + 1:
                return None
            return [c for c in self.history if c.resource_version > resource_version]

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        return "".join(self.random.choice(alphabet) for _ in range(length))

    # -- CRUD ----------------------------------------------------------------------------
    def create(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        with self.lock:
            stored = copy.deepcopy(obj)
            meta = stored.setdefault("metadata", {})
            if "name" not in meta and "generateName" in meta:
                meta["name"] = meta["generateName"] + self.random_suffix()
            key = _key(stored)
            if key in self._objects:
                plural, group = _plural(key[0], key[1])
                raise already_exists(plural, key[3], group)
            meta.setdefault("uid", self.new_uid())
            meta.setdefault("creationTimestamp", format_time(self.now()))
            if stored["kind"] in _GENERATION_KINDS:
                meta["generation"] = 1
            if dry_run:
                meta["resourceVersion"] = self.resource_version
                return stored
            meta["resourceVersion"] = self._next_resource_version()
            self._objects[key] = stored
            self._record("ADDED", stored)
            return copy.deepcopy(stored)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get((api_version, kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def peek(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object itself, not a copy: read-only, as `select` (served as stored)."""
        with self.lock:
            return self._objects.get((api_version, kind, namespace, name))

    def require(self, api_version: str, kind: str, namespace: str, name: str) -> Obj:
        obj = self.get(api_version, kind, namespace, name)
        if obj is None:
            plural, group = _plural(api_version, kind)
            raise not_found(plural, name, group)
        return obj

    def select(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        labels: list[Requirement] | None = None,
        fields: list[FieldRequirement] | None = None,
    ) -> ObjList:
        """What `list` returns, without copying: the stored objects themselves, in key order.

        Read-only. Safe to serialise after the lock is released because the store never
        changes a stored object in place (`create`/`update` store fresh copies), so serving a
        list does not pay a deep copy of every object in it."""
        with self.lock:
            return [
                obj
                for key, obj in sorted(
                    (k, o)
                    for k, o in self._objects.items()
                    if k[0] == api_version
                    and k[1] == kind
                    and (namespace is None or k[2] == namespace)
                )
                if matches_labels(obj["metadata"].get("labels"), labels or [])
                and matches_fields(obj, fields or [])
            ]

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        labels: list[Requirement] | None = None,
        fields: list[FieldRequirement] | None = None,
    ) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for obj in self.select(api_version, kind, namespace, labels, fields)
            ]

    def scan(self, api_version: str, kind: str, namespace: str | None = None) -> ObjList:
        """Stored objects themselves, not copies: read-only, for controllers holding the lock."""
        with self.lock:
            return [
                obj
                for key, obj in self._objects.items()
                if key[0] == api_version
                and key[1] == kind
                and (namespace is None or key[2] == namespace)
            ]

    def update(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Replace an existing object; bumps generation when the spec changed."""
        with self.lock:
            stored = copy.deepcopy(obj)
            key = _key(stored)
            old = self._objects.get(key)
            # A controller that changed the stored object itself (from `scan`) and writes it
            # back: nothing to compare with, and it writes only what changed, so it is a change
            # (a watch must see an OOM kill's restart, as the API server's would).
            in_place = obj is old
            if old is None:
                plural, group = _plural(key[0], key[1])
                raise not_found(plural, key[3], group)
            meta = stored["metadata"]
            for immutable in ("uid", "creationTimestamp"):
                meta[immutable] = old["metadata"][immutable]
            if old["kind"] in _GENERATION_KINDS:
                generation = old["metadata"].get("generation", 1)
                if stored.get("spec") != old.get("spec"):
                    generation += 1
                meta["generation"] = generation
            if not in_place and _without_rv(stored) == _without_rv(old):
                return copy.deepcopy(old)  # no-op writes keep the resourceVersion
            if dry_run:
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
                return stored
            meta["resourceVersion"] = self._next_resource_version()
            self._objects[key] = stored
            self._record("MODIFIED", stored, old)
            return copy.deepcopy(stored)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.require(api_version, kind, namespace, name)
            old = self._objects.pop((api_version, kind, namespace, name))
            # etcd's revision moves on a delete, and the DELETED event carries it
            rv = self._next_resource_version()
            self._record("DELETED", {**old, "metadata": {**old["metadata"], "resourceVersion": rv}})
            if kind == "Pod":
                self.pod_gone_at.pop((namespace, name), None)
                self.pod_ready_at.pop((namespace, name), None)
                self.pod_usage.pop((namespace, name), None)
                for log_key in [k for k in self.logs if k[:2] == (namespace, name)]:
                    del self.logs[log_key]
            return obj

    def upsert(self, obj: Obj) -> Obj:
        with self.lock:
            if _key(obj) in self._objects:
                return self.update(obj)
            return self.create(obj)

    # -- logs ----------------------------------------------------------------------------
    def container_logs(self, namespace: str, pod: str, container: str) -> ContainerLogs:
        with self.lock:
            return self.logs.setdefault((namespace, pod, container), ContainerLogs())
