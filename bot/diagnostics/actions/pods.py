"""Diagnostics about pods and what happened to them: `pods`, `describe`, `events`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.actions.base import Action, Context, KubeParams, kube_scope
from bot.actions.kubernetes import (
    PodRow,
    age,
    event_count,
    event_time,
    get_pod,
    pod_row,
    pods_for,
    probe_failures,
    resolve_deployment,
)
from bot.actions.output import Result, Section, table
from bot.blockkit import counted
from bot.diagnostics import messages
from bot.diagnostics.logpatterns import normalise
from bot.diagnostics.owners import (
    ObjectRef,
    PodName,
    Target,
    deployment_of_pod,
    events_of,
    owned,
    split_kind,
)
from bot.errors import NotFound
from bot.gateways.kubernetes import Obj
from bot.policy.authorizer import Scope
from bot.runtime.redaction import redact

OOM_WINDOW = timedelta(minutes=30)
MAX_EVENT_ROWS = 40


class TargetParams(KubeParams):
    positional = ("target",)

    target: Target
    """A deployment name (`deployment/NAME` too), or a label selector such as
    `app=orion,tier=api`."""


@dataclass
class PodsFindings:
    selector: str
    rows: list[PodRow]


def pods_headline(rows: list[PodRow], now: datetime) -> list[str]:
    ready = sum(1 for r in rows if r.is_ready)
    parts = [f"{ready}/{len(rows)} pods ready"]
    ooms = sum(1 for r in rows if r.oom_at and now - r.oom_at <= OOM_WINDOW)
    if ooms:
        parts.append(f"{counted(ooms, 'pod')} OOMKilled in the last 30 min")
    for reason in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
        n = sum(1 for r in rows if reason in r.reason)
        if n:
            parts.append(f"{n} {reason}")
    probes = sum(1 for r in rows if "probe failed" in r.reason)
    if probes:
        parts.append(counted(probes, "failing probe"))
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

    pod: PodName
    """The pod's name (`pod/NAME` too)."""


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

    object: ObjectRef | None = None
    """Only events about this object: a deployment (with its ReplicaSets and pods), a pod, or
    any name; `pod/NAME` and `deployment/NAME` as Fireline prints them."""


@dataclass
class EventsFindings:
    events: list[Obj]
    about: str
    """What the events are about, for the title (empty: the whole namespace)."""
    note: str | None = None


class Events(Action[EventsParams, EventsFindings]):
    """Events in a namespace or about one object — for a deployment, its own and those of its
    ReplicaSets and pods: warnings first, newest first, repeats folded into one line with a
    count."""

    name = "events"
    usage = "events [deployment|pod/NAME|object] [-n namespace]"
    Params = EventsParams

    def scopes(self, params: EventsParams, ctx: Context) -> list[Scope]:
        return [
            kube_scope(ctx, params, split_kind(params.object)[1] if params.object else "events")
        ]

    async def execute(
        self, params: EventsParams, ctx: Context, scopes: list[Scope]
    ) -> EventsFindings:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube, ns = ctx.kube(scope.cluster), scope.namespace
        if params.object is None:
            return EventsFindings(await kube.list_events(ns), "")
        kind, name = split_kind(params.object)

        async def deployment() -> Obj | None:
            if kind not in (None, "deployment"):
                return None
            try:
                return await kube.get_deployment(ns, name)
            except NotFound:
                return None

        found, events, sets, pods = await asyncio.gather(
            deployment(), kube.list_events(ns), kube.list_replicasets(ns, None), kube.list_pods(ns)
        )
        if found is not None:
            about = f"deployment `{name}` and its ReplicaSets and pods"
            return EventsFindings(events_of(owned(found, sets, pods), events), about)
        if kind == "deployment":
            await resolve_deployment(kube, ns, name)  # NotFound, with the closest names
        wanted = _KIND_NAMES.get(kind or "")
        direct = [
            e
            for e in events
            if (e.get("involvedObject") or {}).get("name") == name
            and (wanted is None or (e.get("involvedObject") or {}).get("kind") == wanted)
        ]
        shown = f"{kind}/{name}" if kind else name
        if direct or kind not in (None, "pod"):
            return EventsFindings(direct, f"`{shown}`")
        parent = _parent_deployment(name, sets)
        if parent is None:
            return EventsFindings(direct, f"`{shown}`")
        stub = {"metadata": {"name": parent[0], "uid": parent[1]}}
        about = f"deployment `{parent[0]}` and its ReplicaSets and pods"
        note = messages.events_of_parent(name, parent[0])
        return EventsFindings(events_of(owned(stub, sets, pods), events), about, note)

    def render(self, params: EventsParams, findings: EventsFindings, ctx: Context) -> Result:
        folded = fold_events(findings.events)
        warnings = sum(e.count for e in folded if e.type == "Warning")
        about = (
            f" of {findings.about}"
            if findings.about.startswith("deployment")
            else (f" about {findings.about}" if findings.about else "")
        )
        result = Result(f"Events{about}")
        if findings.note:
            result.headline.append(findings.note)
        # Both counted as the COUNT column counts (repeats included): "733 warnings · 65
        # events" put repeats beside event objects, fewer events than warnings.
        normal = sum(e.count for e in folded) - warnings
        result.headline.append(
            f"{counted(warnings, 'warning')} · {counted(normal, 'normal event')}"
        )
        result.sections.append(Section("", event_table(folded, ctx.clock.now()), True))
        return result


_KIND_NAMES = {
    "pod": "Pod",
    "deployment": "Deployment",
    "replicaset": "ReplicaSet",
    "service": "Service",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "node": "Node",
}


def _parent_deployment(pod: str, replicasets: list[Obj]) -> tuple[str, str] | None:
    """(name, UID) of the deployment whose ReplicaSet a pod's name starts with (a pod that is
    gone leaves its events and its name)."""
    for rs in replicasets:
        if pod.startswith(str(rs["metadata"]["name"]) + "-"):
            for ref in rs["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    return str(ref.get("name")), str(ref.get("uid"))
    guess = deployment_of_pod(pod)
    for rs in replicasets:
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment" and ref.get("name") == guess:
                return str(ref.get("name")), str(ref.get("uid"))
    return None
