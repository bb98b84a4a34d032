"""Diagnostics about pods and what happened to them: `pods`, `describe`, `events`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.actions.base import Action, Context, KubeParams, NameOrSelector, ObjectName, kube_scope
from bot.actions.kubernetes import (
    PodRow,
    age,
    event_count,
    event_time,
    get_pod,
    pod_row,
    pods_for,
    probe_failures,
)
from bot.actions.output import Result, Section, table
from bot.diagnostics.logpatterns import normalise
from bot.gateways.kubernetes import Obj
from bot.policy.authorizer import Scope
from bot.runtime.redaction import redact

OOM_WINDOW = timedelta(minutes=30)
MAX_EVENT_ROWS = 40


class TargetParams(KubeParams):
    positional = ("target",)

    target: NameOrSelector
    """A deployment name, or a label selector such as `app=orion,tier=api`."""


@dataclass
class PodsFindings:
    selector: str
    rows: list[PodRow]


def pods_headline(rows: list[PodRow], now: datetime) -> list[str]:
    ready = sum(1 for r in rows if r.is_ready)
    parts = [f"{ready}/{len(rows)} pods ready"]
    ooms = sum(1 for r in rows if r.oom_at and now - r.oom_at <= OOM_WINDOW)
    if ooms:
        parts.append(f"{ooms} OOMKilled in the last 30 min")
    for reason in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
        n = sum(1 for r in rows if reason in r.reason)
        if n:
            parts.append(f"{n} {reason}")
    probes = sum(1 for r in rows if "probe failed" in r.reason)
    if probes:
        parts.append(f"{probes} failing probes")
    return parts


class Pods(Action[TargetParams, PodsFindings]):
    """Pods of a deployment or label selector: phase, readiness, restarts, age, node and the
    last reason a container died (OOMKilled/137, CrashLoopBackOff, ImagePullBackOff, failed
    probes)."""

    name = "pods"
    usage = "pods <deployment|label-selector> [-n namespace]"
    Params = TargetParams

    def scopes(self, params: TargetParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.target)]

    async def execute(
        self, params: TargetParams, ctx: Context, scopes: list[Scope]
    ) -> PodsFindings:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        (selector, pods), events = await asyncio.gather(
            pods_for(kube, scope.namespace, params.target), kube.list_events(scope.namespace)
        )
        probes = probe_failures(events)
        now = ctx.clock.now()
        rows = [pod_row(p, now, probes.get(p["metadata"]["name"], 0)) for p in pods]
        return PodsFindings(selector, rows)

    def render(self, params: TargetParams, findings: PodsFindings, ctx: Context) -> Result:
        rows = findings.rows
        result = Result(f"Pods of `{params.target}` ({findings.selector})")
        if not rows:
            result.headline.append("No pods match.")
            return result
        result.headline.append(" · ".join(pods_headline(rows, ctx.clock.now())))
        ordered = sorted(rows, key=lambda r: (r.is_ready, -r.restarts, r.name))
        result.sections.append(
            Section(
                "",
                table(
                    [
                        [
                            r.name,
                            r.phase,
                            f"{r.ready}/{r.containers}",
                            str(r.restarts),
                            r.age,
                            r.node,
                            r.reason,
                        ]
                        for r in ordered
                    ],
                    ["POD", "PHASE", "READY", "RESTARTS", "AGE", "NODE", "LAST PROBLEM"],
                ),
                code=True,
            )
        )
        return result


class PodParams(KubeParams):
    positional = ("pod",)

    pod: ObjectName
    """The pod's name."""


class Describe(Action[PodParams, tuple[Obj, list[Obj]]]):
    """One pod in detail: its conditions, each container's state and last termination, and the
    pod's events, newest first."""

    name = "describe"
    usage = "describe <pod> [-n namespace]"
    Params = PodParams

    def scopes(self, params: PodParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.pod)]

    async def execute(
        self, params: PodParams, ctx: Context, scopes: list[Scope]
    ) -> tuple[Obj, list[Obj]]:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        pod, events = await asyncio.gather(
            get_pod(kube, scope.namespace, params.pod),
            kube.list_events(scope.namespace, involved=params.pod),
        )
        return pod, events

    def render(self, params: PodParams, findings: tuple[Obj, list[Obj]], ctx: Context) -> Result:
        pod, events = findings
        now = ctx.clock.now()
        row = pod_row(pod, now)
        status = pod.get("status") or {}
        result = Result(f"Pod `{row.name}`")
        result.headline.append(
            f"{row.phase} · {row.ready}/{row.containers} ready · {row.restarts} restarts · "
            f"node {row.node} · age {row.age}" + (f" · {row.reason}" if row.reason != "-" else "")
        )
        conditions = [
            [str(c.get("type")), str(c.get("status")), str(c.get("reason") or "-"),
             age(c.get("lastTransitionTime"), now)]
            for c in status.get("conditions") or []
        ]  # fmt: skip
        if conditions:
            result.sections.append(
                Section(
                    "Conditions", table(conditions, ["TYPE", "STATUS", "REASON", "SINCE"]), True
                )
            )
        lines = []
        images = {
            c["name"]: c.get("image", "?") for c in (pod.get("spec") or {}).get("containers", [])
        }
        for cs in status.get("containerStatuses") or []:
            lines.append(
                f"{cs['name']} ({images.get(cs['name'], cs.get('image', '?'))}): "
                f"{_state(cs.get('state'))}, ready={cs.get('ready')}, "
                f"restarts={cs.get('restartCount', 0)}"
            )
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                lines.append(
                    f"  last terminated: {last.get('reason')} (exit {last.get('exitCode')}) "
                    f"{age(last.get('finishedAt'), now)} ago"
                )
        if lines:
            result.sections.append(Section("Containers", redact("\n".join(lines)), True))
        result.sections.append(Section("Events", event_table(fold_events(events), now), True))
        return result


def _state(state: dict[str, Any] | None) -> str:
    if not state:
        return "unknown"
    kind, detail = next(iter(state.items()))
    reason = (detail or {}).get("reason")
    return f"{kind}" + (f" ({reason})" if reason else "")


@dataclass
class FoldedEvent:
    type: str
    reason: str
    object: str
    message: str
    count: int
    last: datetime | None


def fold_events(events: list[Obj]) -> list[FoldedEvent]:
    """Repeats folded into one row with a count; warnings first, then newest first."""
    folded: dict[tuple[str, str, str, str], FoldedEvent] = {}
    for event in events:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        obj = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '?')}"
        message = redact(str(event.get("message") or event.get("note") or ""))
        key = (str(event.get("type")), str(event.get("reason")), obj, normalise(message))
        when = event_time(event)
        row = folded.get(key)
        if row is None:
            folded[key] = FoldedEvent(key[0], key[1], obj, message, event_count(event), when)
        else:
            row.count += event_count(event)
            if when and (row.last is None or when > row.last):
                row.last, row.message = when, message
    return sorted(
        folded.values(),
        key=lambda e: (e.type != "Warning", -(e.last.timestamp() if e.last else 0.0)),
    )


def event_table(events: list[FoldedEvent], now: datetime) -> str:
    if not events:
        return "No events (Kubernetes keeps them for about an hour)."
    rows = [
        [e.type, e.reason, e.object, f"×{e.count}",
         (age(e.last.isoformat(), now) + " ago") if e.last else "?", e.message[:160]]
        for e in events[:MAX_EVENT_ROWS]
    ]  # fmt: skip
    text = table(rows, ["TYPE", "REASON", "OBJECT", "COUNT", "LAST", "MESSAGE"])
    if len(events) > MAX_EVENT_ROWS:
        text += f"\n… and {len(events) - MAX_EVENT_ROWS} more kinds of event"
    return text


class EventsParams(KubeParams):
    positional = ("object",)

    object: ObjectName | None = None
    """Only events about this object (a pod, deployment, … name)."""


class Events(Action[EventsParams, list[Obj]]):
    """Events in a namespace (or about one object): warnings first, newest first, repeats folded
    into one line with a count."""

    name = "events"
    usage = "events [object] [-n namespace]"
    Params = EventsParams

    def scopes(self, params: EventsParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.object or "events")]

    async def execute(self, params: EventsParams, ctx: Context, scopes: list[Scope]) -> list[Obj]:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        return await ctx.kube(scope.cluster).list_events(scope.namespace, involved=params.object)

    def render(self, params: EventsParams, findings: list[Obj], ctx: Context) -> Result:
        folded = fold_events(findings)
        warnings = sum(e.count for e in folded if e.type == "Warning")
        about = f" about `{params.object}`" if params.object else ""
        result = Result(f"Events{about}")
        result.headline.append(f"{warnings} warnings · {len(findings)} events")
        result.sections.append(Section("", event_table(folded, ctx.clock.now()), True))
        return result
