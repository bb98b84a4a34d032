"""Reading Kubernetes objects as the API serves them (JSON dicts): shared by the Kubernetes actions.

Pure functions, except `pods_for()` and `resolve_deployment()`, which read through the gateway
and turn a missing target into a `NotFound` that offers the closest names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import messages
from bot.actions.base import close_matches
from bot.errors import NotFound
from bot.gateways.kubernetes import KubeGateway, Obj

TROUBLE_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
}


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: Any, now: datetime) -> str:
    when = parse_time(value)
    if when is None:
        return "?"
    return short_duration((now - when).total_seconds())


def short_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def is_selector(target: str) -> bool:
    return "=" in target or " in " in target or "," in target


def match_labels_selector(deployment: Obj) -> str:
    labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


async def resolve_deployment(kube: KubeGateway, namespace: str, name: str) -> Obj:
    try:
        return await kube.get_deployment(namespace, name)
    except NotFound:
        names = [d["metadata"]["name"] for d in await kube.list_deployments(namespace)]
        raise NotFound(
            messages.no_such_object(
                "deployment", name, namespace, close_matches(name, names), names
            )
        ) from None


async def pods_for(kube: KubeGateway, namespace: str, target: str) -> tuple[str, list[Obj]]:
    """The pods a target names (a deployment or a label selector) and the selector used."""
    if is_selector(target):
        selector = target
    else:
        selector = match_labels_selector(await resolve_deployment(kube, namespace, target))
    pods = await kube.list_pods(namespace, selector)
    return selector, sorted(pods, key=lambda p: str(p["metadata"]["name"]))


async def get_pod(kube: KubeGateway, namespace: str, name: str) -> Obj:
    try:
        return await kube.get_pod(namespace, name)
    except NotFound:
        names = [p["metadata"]["name"] for p in await kube.list_pods(namespace)]
        raise NotFound(
            messages.no_such_object("pod", name, namespace, close_matches(name, names), names)
        ) from None


@dataclass(frozen=True)
class PodRow:
    name: str
    phase: str
    ready: int
    containers: int
    restarts: int
    age: str
    node: str
    reason: str  # what is wrong, if anything: OOMKilled (137), CrashLoopBackOff, …
    oom_at: datetime | None

    @property
    def is_ready(self) -> bool:
        return self.containers > 0 and self.ready == self.containers


def pod_row(pod: Obj, now: datetime, probe_failures: int = 0) -> PodRow:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    reasons: list[str] = []
    oom_at: datetime | None = None
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in TROUBLE_WAITING:
            reasons.append(str(waiting["reason"]))
        last = (cs.get("lastState") or {}).get("terminated") or {}
        current = (cs.get("state") or {}).get("terminated") or {}
        for term in (current, last):
            if term and (term.get("reason") not in (None, "Completed") or term.get("exitCode")):
                reasons.append(f"{term.get('reason') or 'Error'} ({term.get('exitCode', '?')})")
                if term.get("reason") == "OOMKilled" or term.get("exitCode") == 137:
                    finished = parse_time(term.get("finishedAt"))
                    oom_at = max(filter(None, (oom_at, finished)), default=None)
                break
    if probe_failures:
        reasons.append(f"probe failed ×{probe_failures}")
    if status.get("reason"):
        reasons.append(str(status["reason"]))
    if pod["metadata"].get("deletionTimestamp"):  # kubectl's STATUS says so too
        reasons.insert(0, "Terminating")
    return PodRow(
        name=str(pod["metadata"]["name"]),
        phase=str(status.get("phase") or "Unknown"),
        ready=sum(1 for cs in statuses if cs.get("ready")),
        containers=len(statuses) or len((pod.get("spec") or {}).get("containers") or []),
        restarts=sum(int(cs.get("restartCount") or 0) for cs in statuses),
        age=age(pod["metadata"].get("creationTimestamp"), now),
        node=str((pod.get("spec") or {}).get("nodeName") or "-"),
        reason=", ".join(dict.fromkeys(reasons)) or "-",
        oom_at=oom_at,
    )


def probe_failures(events: list[Obj]) -> dict[str, int]:
    """Failed liveness/readiness probes per pod, from `Unhealthy` events."""
    counts: dict[str, int] = {}
    for event in events:
        if event.get("reason") == "Unhealthy":
            name = str((event.get("involvedObject") or {}).get("name") or "")
            counts[name] = counts.get(name, 0) + event_count(event)
    return counts


def event_count(event: Obj) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def event_time(event: Obj) -> datetime | None:
    series = event.get("series") or {}
    return (
        parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("lastTimestamp"))
        or parse_time(event.get("eventTime"))
        or parse_time(event.get("firstTimestamp"))
        or parse_time((event.get("metadata") or {}).get("creationTimestamp"))
    )


_SUFFIXES = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}  # fmt: skip
_LONGEST_FIRST = sorted(_SUFFIXES, key=len, reverse=True)


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity as a number (CPU in cores, memory in bytes)."""
    return _quantity(str(value or "0").strip())


@functools.lru_cache(maxsize=4096)
def _quantity(text: str) -> float:
    """Remembered: a namespace's pods repeat a handful of quantities, read six per container
    each time `diagnose` or `top` runs."""
    for suffix in _LONGEST_FIRST:
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * _SUFFIXES[suffix]
            except ValueError:
                return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0
