"""Diagnostics about workloads: `top`, `rollout-history`, `hpa`, `endpoints`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot import messages
from bot.actions.base import (
    Action,
    Context,
    KubeParams,
    ObjectName,
    close_matches,
    kube_cluster,
    kube_scope,
)
from bot.actions.kubernetes import (
    match_labels_selector,
    parse_quantity,
    resolve_deployment,
)
from bot.actions.output import Result, Section, table
from bot.blockkit import counted
from bot.diagnostics.revisions import (
    Revision,
    revision_label,
    revisions,
    rolled_out_ago,
    suspect,
    suspect_line,
)
from bot.errors import NotFound
from bot.gateways.kubernetes import Obj
from bot.policy.authorizer import Scope

LIMIT_WARN = 0.8


class TopParams(KubeParams):
    positional = ("target",)

    target: ObjectName
    """A deployment name, or a namespace the cluster lists by name (every pod in it)."""


@dataclass
class Usage:
    pod: str
    container: str
    cpu: float
    memory: float
    cpu_request: float
    cpu_limit: float
    mem_request: float
    mem_limit: float

    @property
    def hot(self) -> list[str]:
        flags = []
        if self.cpu_limit and self.cpu / self.cpu_limit > LIMIT_WARN:
            flags.append(f"CPU {self.cpu / self.cpu_limit:.0%} of limit")
        if self.mem_limit and self.memory / self.mem_limit > LIMIT_WARN:
            flags.append(f"memory {self.memory / self.mem_limit:.0%} of limit")
        return flags


class Top(Action[TopParams, list[Usage]]):
    """CPU and memory in use (metrics API) against requests and limits, per container of a
    deployment or of a whole namespace; anything above 80 % of its limit is flagged."""

    name = "top"
    usage = "top <deployment|namespace> [-n namespace] [--cluster name]"
    Params = TopParams

    def _namespace_mode(self, params: TopParams, ctx: Context) -> bool:
        if params.namespace is not None:
            return False
        cluster = ctx.policy.clusters[kube_cluster(ctx, params)]
        return params.target in cluster.namespaces

    def scopes(self, params: TopParams, ctx: Context) -> list[Scope]:
        if self._namespace_mode(params, ctx):
            return [kube_scope(ctx, params, params.target, namespace=params.target)]
        return [kube_scope(ctx, params, params.target)]

    async def execute(self, params: TopParams, ctx: Context, scopes: list[Scope]) -> list[Usage]:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        selector = None
        if not self._namespace_mode(params, ctx):
            deployment = await resolve_deployment(kube, scope.namespace, params.target)
            selector = match_labels_selector(deployment)
        pods, metrics = await asyncio.gather(
            kube.list_pods(scope.namespace, selector), kube.pod_metrics(scope.namespace, selector)
        )
        return usage_rows(pods, metrics)

    def render(self, params: TopParams, findings: list[Usage], ctx: Context) -> Result:
        result = Result(f"Resource use of `{params.target}`")
        if not findings:
            result.headline.append("No metrics: the metrics API reported no pods.")
            return result
        hot = [u for u in findings if u.hot]
        result.headline.append(
            f"{counted(len(hot), 'container')} above 80 % of a limit"
            if hot
            else "Nothing near its limits"
        )
        rows = [
            [u.pod, u.container, _cpu(u.cpu), f"{_cpu(u.cpu_request)}/{_cpu(u.cpu_limit)}",
             _mem(u.memory), f"{_mem(u.mem_request)}/{_mem(u.mem_limit)}", ", ".join(u.hot) or "-"]
            for u in sorted(findings, key=lambda u: (not u.hot, u.pod))
        ]  # fmt: skip
        result.sections.append(
            Section(
                "",
                table(rows, ["POD", "CONTAINER", "CPU", "REQ/LIM", "MEMORY", "REQ/LIM", "FLAG"]),
                code=True,
            )
        )
        return result


def usage_rows(pods: list[Obj], metrics: list[Obj]) -> list[Usage]:
    specs: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            specs[(pod["metadata"]["name"], c["name"])] = c.get("resources") or {}
    rows = []
    for item in metrics:
        pod_name = str(item["metadata"]["name"])
        for c in item.get("containers") or []:
            res = specs.get((pod_name, c["name"]), {})
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            rows.append(
                Usage(
                    pod_name,
                    str(c["name"]),
                    parse_quantity(c["usage"].get("cpu")),
                    parse_quantity(c["usage"].get("memory")),
                    parse_quantity(req.get("cpu")),
                    parse_quantity(lim.get("cpu")),
                    parse_quantity(req.get("memory")),
                    parse_quantity(lim.get("memory")),
                )
            )
    return rows


def _cpu(cores: float) -> str:
    return f"{cores * 1000:.0f}m" if cores else "-"


def _mem(value: float) -> str:
    return f"{value / 1024**2:.0f}Mi" if value else "-"


class DeploymentParams(KubeParams):
    positional = ("deployment",)

    deployment: ObjectName
    """The deployment's name."""


class RolloutHistory(Action[DeploymentParams, list[Revision]]):
    """A deployment's revisions, newest first, with images, change-cause and when each rolled
    out (one a rollback made current again: when it was rolled back to); the revision rolled
    out closest before the incident started is called out."""

    name = "rollout-history"
    usage = "rollout-history <deployment> [-n namespace]"
    Params = DeploymentParams

    def scopes(self, params: DeploymentParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.deployment)]

    async def execute(
        self, params: DeploymentParams, ctx: Context, scopes: list[Scope]
    ) -> list[Revision]:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        deployment = await resolve_deployment(kube, scope.namespace, params.deployment)
        selector = match_labels_selector(deployment)
        # The pods too: after a rollback they date it (bot/diagnostics/revisions.py).
        sets, pods = await asyncio.gather(
            kube.list_replicasets(scope.namespace, selector),
            kube.list_pods(scope.namespace, selector),
        )
        return revisions(deployment, sets, pods)

    def render(self, params: DeploymentParams, findings: list[Revision], ctx: Context) -> Result:
        now = ctx.clock.now()
        result = Result(f"Rollout history of `{params.deployment}`")
        flagged = suspect(findings, ctx.incident_started)
        if flagged and ctx.incident_started:
            result.headline.append("⚠️ " + suspect_line(flagged, ctx.incident_started))
        elif findings:
            result.headline.append(f"Current revision {findings[0].number}")
        rows = [
            [("→ " if r is flagged else "") + revision_label(r), r.images,
             rolled_out_ago(r, now), str(r.replicas), r.change_cause]
            for r in findings
        ]  # fmt: skip
        result.sections.append(
            Section("", table(rows, ["REV", "IMAGES", "ROLLED OUT", "PODS", "CHANGE-CAUSE"]), True)
        )
        return result


class HpaParams(KubeParams):
    positional = ("name",)

    name: ObjectName | None = None
    """Only this HorizontalPodAutoscaler (or the one targeting this deployment)."""


class Hpa(Action[HpaParams, list[Obj]]):
    """HorizontalPodAutoscalers: current/desired/min/max replicas and each metric against its
    target; says when one is pinned at its maximum."""

    name = "hpa"
    usage = "hpa [name] [-n namespace]"
    Params = HpaParams

    def scopes(self, params: HpaParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.name or "hpa")]

    async def execute(self, params: HpaParams, ctx: Context, scopes: list[Scope]) -> list[Obj]:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        hpas = await ctx.kube(scope.cluster).list_hpas(scope.namespace)
        if params.name is None:
            return hpas
        chosen = [
            h
            for h in hpas
            if params.name
            in (h["metadata"]["name"], (h.get("spec") or {}).get("scaleTargetRef", {}).get("name"))
        ]
        if not chosen:
            names = [h["metadata"]["name"] for h in hpas]
            raise NotFound(
                messages.no_such_object(
                    "HorizontalPodAutoscaler",
                    params.name,
                    scope.namespace,
                    close_matches(params.name, names),
                    names,
                )
            )
        return chosen

    def render(self, params: HpaParams, findings: list[Obj], ctx: Context) -> Result:
        result = Result("HorizontalPodAutoscalers")
        pinned = []
        rows = []
        for h in findings:
            spec, status = h.get("spec") or {}, h.get("status") or {}
            cur, want = (
                int(status.get("currentReplicas") or 0),
                int(status.get("desiredReplicas") or 0),
            )
            lo, hi = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 0)
            at_max = hi > 0 and cur >= hi and want >= hi
            if at_max:
                pinned.append(h["metadata"]["name"])
            rows.append(
                [h["metadata"]["name"], f"{cur}/{want}", f"{lo}-{hi}", hpa_metrics(h),
                 "PINNED AT MAX" if at_max else "-"]
            )  # fmt: skip
        if not findings:
            result.headline.append("No HorizontalPodAutoscalers here.")
            return result
        result.headline.append(
            f"{', '.join(pinned)} pinned at max replicas" if pinned else "None pinned at max"
        )
        result.sections.append(
            Section("", table(rows, ["HPA", "CUR/DESIRED", "MIN-MAX", "METRICS", "NOTE"]), True)
        )
        return result


def hpa_metrics(hpa: Obj) -> str:
    targets = {}
    for m in (hpa.get("spec") or {}).get("metrics") or []:
        name, target = _metric(m)
        targets[name] = target
    parts = []
    for m in (hpa.get("status") or {}).get("currentMetrics") or []:
        name, current = _metric(m)
        parts.append(f"{name} {current}/{targets.pop(name, '?')}")
    parts.extend(f"{n} ?/{t}" for n, t in targets.items())
    return "; ".join(parts) or "-"


def _metric(metric: Obj) -> tuple[str, str]:
    kind = str(metric.get("type") or "").lower()
    body = metric.get(kind[:1].lower() + str(metric.get("type"))[1:]) or {}
    name = str(body.get("name") or (body.get("metric") or {}).get("name") or kind)
    value = body.get("target") or body.get("current") or {}
    if "averageUtilization" in value:
        return name, f"{value['averageUtilization']}%"
    return name, str(value.get("averageValue") or value.get("value") or "?")


class EndpointsParams(KubeParams):
    positional = ("service",)

    service: ObjectName
    """The service's name."""


class Endpoints(Action[EndpointsParams, Obj]):
    """A service's endpoints: which pod addresses are ready and which are not."""

    name = "endpoints"
    usage = "endpoints <service> [-n namespace]"
    Params = EndpointsParams

    def scopes(self, params: EndpointsParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.service)]

    async def execute(self, params: EndpointsParams, ctx: Context, scopes: list[Scope]) -> Obj:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        try:
            return await kube.get_endpoints(scope.namespace, params.service)
        except NotFound:
            names = [s["metadata"]["name"] for s in await kube.list_services(scope.namespace)]
            raise NotFound(
                messages.no_such_object(
                    "service",
                    params.service,
                    scope.namespace,
                    close_matches(params.service, names),
                    names,
                )
            ) from None

    def render(self, params: EndpointsParams, findings: Obj, ctx: Context) -> Result:
        ready, not_ready = [], []
        for subset in findings.get("subsets") or []:
            ports = ",".join(str(p.get("port")) for p in subset.get("ports") or [])
            for a in subset.get("addresses") or []:
                ready.append(_address(a, ports))
            for a in subset.get("notReadyAddresses") or []:
                not_ready.append(_address(a, ports))
        result = Result(f"Endpoints of service `{params.service}`")
        result.headline.append(f"{len(ready)} ready · {len(not_ready)} not ready")
        if not ready:
            result.headline.append("⚠️ No ready endpoints: the service sends traffic nowhere.")
        rows = [[*r, "ready"] for r in ready] + [[*r, "NOT READY"] for r in not_ready]
        if rows:
            result.sections.append(
                Section("", table(rows, ["ADDRESS", "PORTS", "POD", "NODE", "STATE"]), True)
            )
        return result


def _address(address: Obj, ports: str) -> list[str]:
    ref = address.get("targetRef") or {}
    return [
        str(address.get("ip")),
        ports,
        str(ref.get("name") or "-"),
        str(address.get("nodeName") or "-"),
    ]
