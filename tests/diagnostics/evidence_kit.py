"""Hand-made `Evidence` for testing the rules and the remediation preconditions one at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions.kubernetes import PodRow
from bot.diagnostics.actions.workloads import Usage
from bot.diagnostics.evidence import Evidence, PodState, Signal
from bot.diagnostics.logpatterns import group_lines
from bot.diagnostics.revisions import Revision

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return ago(minutes).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    waiting: str | None = None,
    last: str | None = None,
    exit_code: int | None = None,
    created: float = 600,
    image: str = "registry/app:2",
    reason: str = "-",
) -> PodState:
    row = PodRow(name, "Running", int(ready), 1, restarts, "10m", "node-1", reason, None)
    return PodState(
        row, ago(created), waiting, "", last, exit_code, ago(1) if last else None, (image,)
    )


def revisions(*minutes_ago: float) -> list[Revision]:
    """Newest first: the first is the current revision."""
    count = len(minutes_ago)
    return [
        Revision(count - i, f"registry/app:{count - i}", "-", ago(m), 0)
        for i, m in enumerate(minutes_ago)
    ]


def logs(*lines: tuple[float, str], pod_name: str = "app-1") -> list[tuple[str, str]]:
    return [(pod_name, f"{stamp(m)} {text}") for m, text in lines]


def evidence(
    *,
    pods: list[PodState] | None = None,
    revs: list[Revision] | None = None,
    lines: list[tuple[str, str]] | None = None,
    usage: list[Usage] | None = None,
    signals: dict[str, Signal] | None = None,
    events: list[dict[str, Any]] | None = None,
    hpas: list[dict[str, Any]] | None = None,
    replicas: int = 3,
    logs_since: float | None = None,
) -> Evidence:
    e = Evidence("app", "orion-prod", NOW, replicas=replicas)
    e.pods = pods if pods is not None else [pod(f"app-{i}") for i in range(3)]
    e.revisions = revs
    e.usage = usage
    e.signals = signals or {}
    e.events = events or []
    e.hpas = hpas
    if lines is not None:
        split = revs[0].rolled_out_at if revs else None
        e.templates = group_lines(lines, levels=("error", "warning"), split_at=split)
        e.logs_from = sorted({p for p, _ in lines})
    e.logs_since = ago(logs_since) if logs_since is not None else None
    return e


def raised(query: str, began: float, now: float, baseline: float, unit: str) -> Signal:
    return Signal(query, unit, now, baseline, now, ago(began))


def usage(pod_name: str, *, cpu: float = 0.1, memory: float = 100, cpu_limit: float = 0,
          mem_limit: float = 0) -> Usage:  # fmt: skip
    mi = 1024**2
    return Usage(pod_name, "app", cpu, memory * mi, 0.1, cpu_limit, 64 * mi, mem_limit * mi)
