"""`diagnose`: everything about one deployment at once, with what matters in the first lines.

Every read is independent of the others, so all start together: the namespace's pods, events,
metrics, ReplicaSets and HPAs are listed while the deployment itself is fetched, and filtered
here by the deployment's selector and UID. The whole report therefore costs about one round
trip (the slowest call), not the sum of them. A part that fails or is not permitted is named
in the report; the rest is still shown. Logs are not read (they would need a second round
trip once the pod names are known): the report ends by suggesting `logs` where it would help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.actions.base import Action, Context, KubeParams, ObjectName, kube_scope
from bot.actions.kubernetes import PodRow, pod_row, probe_failures, resolve_deployment
from bot.actions.output import Result, Section, table
from bot.diagnostics import messages
from bot.diagnostics.actions.pods import event_table, fold_events, pods_headline
from bot.diagnostics.actions.workloads import (
    Revision,
    Usage,
    hpa_metrics,
    revisions,
    suspect,
    suspect_line,
    usage_rows,
)
from bot.errors import FirelineError
from bot.gateways.kubernetes import Obj
from bot.gateways.prometheus import Series
from bot.policy.authorizer import Scope

T = TypeVar("T")
ERROR_RATE_QUERY = "error-rate"


class DiagnoseParams(KubeParams):
    positional = ("deployment",)

    deployment: ObjectName
    """The deployment to diagnose."""


@dataclass
class Diagnosis:
    deployment: Obj
    pods: list[PodRow] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    usage: list[Usage] | None = None
    revisions: list[Revision] | None = None
    hpas: list[Obj] | None = None
    error_rate: float | None = None
    failures: list[str] = field(default_factory=list)


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


class Diagnose(Action[DiagnoseParams, Diagnosis]):
    """Diagnoses a deployment in one go — pods and why they fail, recent warnings, resource use
    against limits, the rollout closest before the incident, autoscaling and the error rate —
    with what matters in the first lines and the details below."""

    name = "diagnose"
    usage = "diagnose <deployment> [-n namespace]"
    Params = DiagnoseParams

    def scopes(self, params: DiagnoseParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.deployment)]

    async def execute(self, params: DiagnoseParams, ctx: Context, scopes: list[Scope]) -> Diagnosis:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        ns = scope.namespace
        failures: list[str] = []

        async def part(name: str, work: Callable[[], Awaitable[T]]) -> T | None:
            if name not in ctx.permitted:
                failures.append(f"{name}: not included (your roles do not allow `{name}`)")
                return None
            configured = ctx.policy.prometheus and ERROR_RATE_QUERY in ctx.policy.prometheus.queries
            if (
                name == "query"
                and configured
                and not ctx.reaches(Scope("prometheus", ERROR_RATE_QUERY))
            ):
                failures.append(messages.diagnose_query_not_reached(ERROR_RATE_QUERY))
                return None
            try:
                async with asyncio.timeout(ctx.part_timeout_s):
                    return await work()
            except FirelineError as exc:
                failures.append(f"{name}: {exc}")
            except TimeoutError:
                failures.append(f"{name}: no answer within {ctx.part_timeout_s:g} s")
            return None

        try:
            # A missing deployment (or a bug) cancels the other reads: no partial report then.
            async with asyncio.TaskGroup() as group:
                deployment = group.create_task(resolve_deployment(kube, ns, params.deployment))
                pods = group.create_task(part("pods", lambda: kube.list_pods(ns)))
                events = group.create_task(part("events", lambda: kube.list_events(ns)))
                metrics = group.create_task(part("top", lambda: kube.pod_metrics(ns)))
                sets = group.create_task(
                    part("rollout-history", lambda: kube.list_replicasets(ns, None))
                )
                hpas = group.create_task(part("hpa", lambda: kube.list_hpas(ns)))
                error_rate = group.create_task(part("query", lambda: self._error_rate(params, ctx)))
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        diagnosis = Diagnosis(deployment.result(), failures=failures)
        self._assemble(
            diagnosis, params, ctx,
            pods.result(), events.result(), metrics.result(), sets.result(), hpas.result(),
        )  # fmt: skip
        rate = error_rate.result()
        if rate:
            diagnosis.error_rate = max((s.last or 0.0) for s in rate)
        return diagnosis

    async def _error_rate(self, params: DiagnoseParams, ctx: Context) -> list[Series] | None:
        prometheus = ctx.policy.prometheus
        if prometheus is None or ctx.prometheus is None:
            return None
        query = prometheus.queries.get(ERROR_RATE_QUERY)
        if query is None:
            return None
        promql = query.promql.replace("$service", params.deployment)
        return await ctx.prometheus.query(promql, ctx.clock.now())

    def _assemble(
        self,
        diagnosis: Diagnosis,
        params: DiagnoseParams,
        ctx: Context,
        pods: list[Obj] | None,
        events: list[Obj] | None,
        metrics: list[Obj] | None,
        sets: list[Obj] | None,
        hpas: list[Obj] | None,
    ) -> None:
        """Keep what belongs to the deployment: its selector's pods, their events, its UID's
        ReplicaSets, the HPA that scales it."""
        deployment = diagnosis.deployment
        selector = (deployment.get("spec") or {}).get("selector") or {}
        mine = [p for p in pods or [] if selects(selector, p["metadata"].get("labels") or {})]
        names = {p["metadata"]["name"] for p in mine} | {params.deployment}
        now = ctx.clock.now()
        diagnosis.events = [
            e
            for e in events or []
            if (e.get("involvedObject") or {}).get("name") in names
            or str((e.get("involvedObject") or {}).get("name", "")).startswith(
                params.deployment + "-"
            )
        ]
        probes = probe_failures(diagnosis.events)
        diagnosis.pods = [pod_row(p, now, probes.get(p["metadata"]["name"], 0)) for p in mine]
        if metrics is not None:
            diagnosis.usage = usage_rows(
                mine, [m for m in metrics if m["metadata"]["name"] in names]
            )
        if sets is not None:
            diagnosis.revisions = revisions(deployment, sets)
        if hpas is not None:
            diagnosis.hpas = [
                h
                for h in hpas
                if (h.get("spec") or {}).get("scaleTargetRef", {}).get("name") == params.deployment
            ]

    def render(self, params: DiagnoseParams, findings: Diagnosis, ctx: Context) -> Result:
        now = ctx.clock.now()
        result = Result(f"Diagnosis of `{params.deployment}`")
        result.failures.extend(findings.failures)
        first = pods_headline(findings.pods, now) if findings.pods else ["no pods found"]
        flagged = suspect(findings.revisions or [], ctx.incident_started)
        if flagged and ctx.incident_started:
            first.append(suspect_line(flagged, ctx.incident_started))
        if findings.error_rate is not None:
            first.append(f"error rate {findings.error_rate:.1f} %")
        hot = [u for u in findings.usage or [] if u.hot]
        if hot:
            first.append(f"{len(hot)} container(s) > 80 % of a limit")
        for h in findings.hpas or []:
            spec, status = h.get("spec") or {}, h.get("status") or {}
            if int(status.get("currentReplicas") or 0) >= int(spec.get("maxReplicas") or 1 << 30):
                first.append(f"HPA {h['metadata']['name']} pinned at max")
        result.headline.append(" · ".join(first))
        if findings.pods:
            ordered = sorted(findings.pods, key=lambda r: (r.is_ready, -r.restarts, r.name))
            rows = [
                [r.name, r.phase, f"{r.ready}/{r.containers}", str(r.restarts), r.age, r.reason]
                for r in ordered
            ]
            result.sections.append(
                Section(
                    "Pods",
                    table(rows, ["POD", "PHASE", "READY", "RESTARTS", "AGE", "LAST PROBLEM"]),
                    True,
                )
            )
        warnings = [e for e in findings.events if e.get("type") == "Warning"]
        if warnings:
            result.sections.append(
                Section("Warnings", event_table(fold_events(warnings), now), True)
            )
        if hot:
            rows = [[u.pod, u.container, ", ".join(u.hot)] for u in hot]
            result.sections.append(
                Section("Near limits", table(rows, ["POD", "CONTAINER", "FLAG"]), True)
            )
        if findings.revisions:
            rows = [
                [("→ " if r is flagged else "") + str(r.number), r.images, r.change_cause]
                for r in findings.revisions[:5]
            ]
            result.sections.append(
                Section("Recent revisions", table(rows, ["REV", "IMAGES", "CHANGE-CAUSE"]), True)
            )
        if findings.hpas:
            rows = [
                [h["metadata"]["name"], str((h.get("status") or {}).get("currentReplicas")),
                 str((h.get("spec") or {}).get("maxReplicas")), hpa_metrics(h)]
                for h in findings.hpas
            ]  # fmt: skip
            result.sections.append(
                Section("Autoscaling", table(rows, ["HPA", "CURRENT", "MAX", "METRICS"]), True)
            )
        troubled = [r for r in findings.pods if not r.is_ready or r.oom_at or r.restarts]
        if troubled:
            result.sections.append(Section("", messages.diagnose_next(params.deployment)))
        return result
