"""Which pod logs `diagnose` reads (the crashing pods' previous containers, the newest pods),
how much of each (bounded in lines, bytes and time), and the reads it remembers between runs."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bot.diagnostics.actions import logs as log_reading
from bot.diagnostics.actions.logs import PodLog
from bot.diagnostics.logpatterns import Classified, classify
from bot.errors import FirelineError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.runtime.redaction import redact

LOG_PODS = 5
"""Pods whose logs are read at most."""
CRASHED_PODS = 3
"""Of those, crashing pods whose previous container is read at most."""
LOG_SINCE_S = 3600
LOG_TAIL = 200
LOG_BYTES = 64 * 1024
PREVIOUS_TAIL = 100
PREVIOUS_BYTES = 32 * 1024
CRASH_LINES = 20
RECENT_READS_S = 600.0
RECENT_READS_MAX = 256


@dataclass(frozen=True)
class LogRead:
    pod: str
    container: str
    previous: bool


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def made_by(deployment: str, pods: list[Obj]) -> list[Obj]:
    """The pods a deployment's ReplicaSets made, told by name before the deployment is read:
    a Deployment names each ReplicaSet `<deployment>-<pod-template-hash>`, and the pod's
    controller reference names its ReplicaSet. A guess the deployment's selector then checks."""
    made = []
    for pod in pods:
        meta = pod["metadata"]
        labels, refs = meta.get("labels"), meta.get("ownerReferences")
        if not isinstance(labels, dict) or not isinstance(refs, list):
            continue  # not made by a ReplicaSet, or not as the API shapes it: no guess
        rs_name = f"{deployment}-{labels.get('pod-template-hash')}"
        for ref in refs:
            if isinstance(ref, dict) and ref.get("controller") and ref.get("kind") == "ReplicaSet":
                if ref.get("name") == rs_name:
                    made.append(pod)
                break
    return made


def choose_reads(pods: list[Obj]) -> list[LogRead]:
    """The logs worth reading: the previous container of the crashing pods (most restarts
    first), then the current one of the newest running pods; `LOG_PODS` pods at most."""

    def restarts(pod: Obj) -> int:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return sum(int(cs.get("restartCount") or 0) for cs in statuses)

    def first(pod: Obj) -> dict[str, Any]:
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return dict(statuses[0])

    def container(pod: Obj) -> str:
        return str(((pod.get("spec") or {}).get("containers") or [{}])[0].get("name") or "")

    reads: list[LogRead] = []
    crashed = [
        p for p in pods if restarts(p) and (first(p).get("lastState") or {}).get("terminated")
    ]
    crashed.sort(key=lambda p: (-restarts(p), p["metadata"]["name"]))
    chosen: list[Obj] = []
    for pod in crashed[:CRASHED_PODS]:
        reads.append(LogRead(pod["metadata"]["name"], container(pod), True))
        chosen.append(pod)
    newest = sorted(
        pods,
        key=lambda p: (str(p["metadata"].get("creationTimestamp") or ""), p["metadata"]["name"]),
        reverse=True,
    )
    for pod in newest:
        if len(chosen) >= LOG_PODS and pod not in chosen:
            continue
        if pod not in chosen:
            chosen.append(pod)
        if "running" in (first(pod).get("state") or {}):
            reads.append(LogRead(pod["metadata"]["name"], container(pod), False))
    return reads


class RecentReads:
    """The log reads of each deployment's last diagnosis, for a few minutes: read again at
    once next time, beside the lists (bounded in entries; owned by the action instance)."""

    def __init__(self, ttl_s: float = RECENT_READS_S, size: int = RECENT_READS_MAX) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], tuple[float, list[LogRead]]] = (
            OrderedDict()
        )

    def get(self, key: tuple[str, str, str]) -> list[LogRead]:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return []
        return entry[1]

    def put(self, key: tuple[str, str, str], reads: list[LogRead]) -> None:
        self._entries[key] = (time.monotonic(), reads)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


TEMPLATE_LEVELS = ("error", "warning")
"""The levels of the lines diagnose groups into templates."""


@dataclass
class ReadLog:
    """A pod's log as diagnose read it: the lines, and those of `TEMPLATE_LEVELS` classified
    as they arrived (in the worker thread that redacted them), so that once the last answer
    is in, grouping is only counting."""

    log: PodLog
    classified: list[Classified]


async def read_log(
    kube: KubeGateway, ns: str, read: LogRead, seen: dict[str, tuple[str, str]] | None = None
) -> ReadLog:
    limit = PREVIOUS_BYTES if read.previous else LOG_BYTES
    try:
        return await kube.pod_log_as(
            lambda text: _prepare(read.pod, text, limit, seen),
            ns,
            read.pod,
            container=read.container or None,
            since_s=LOG_SINCE_S,
            previous=read.previous,
            tail_lines=PREVIOUS_TAIL if read.previous else LOG_TAIL,
            limit_bytes=limit,
        )
    except FirelineError as exc:
        return ReadLog(PodLog(read.pod, [], error=str(exc)), [])


def _prepare(
    pod: str, text: str, limit_bytes: int, seen: dict[str, tuple[str, str]] | None
) -> ReadLog:
    # One pass over the lines: shown (stamps cut) and classified together.
    lines: list[str] = []
    classified = classify(
        pod, redact(text).splitlines(), levels=TEMPLATE_LEVELS, seen=seen, shown=lines
    )
    return ReadLog(PodLog(pod, lines, truncated=log_reading.reached(text, limit_bytes)), classified)


def stamp(line: str) -> str:
    return line.split(" ", 1)[0]
