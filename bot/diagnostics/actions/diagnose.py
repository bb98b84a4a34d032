"""`diagnose`: the likely cause of a deployment's trouble, with its evidence, in the first line.

It reads everything a responder would, at once: the deployment; the namespace's pods, events,
metrics, ReplicaSets and HPAs (filtered here by the deployment's selector and by ownership, so
the events are those of the deployment, its ReplicaSets and their pods); the error-rate and
p95-latency queries over the last hour when Prometheus is configured; and the logs of the pods
that matter — the previous container of the crashing ones, the current one of the newest —
bounded in lines, bytes and time. From that `Evidence` the rules (bot/diagnostics/rules.py)
make ranked findings; the first names the most likely cause with its strongest evidence, and
when nothing is wrong the first line says what was checked.

Latency: the reads start together, so the report costs about the slowest call. Logs need pod
names, which come with the pod list. Where a watch keeps the namespace's pods (the bot keeps
those of the namespaces its policy names, bot/gateways/pod_watch.py), the pods are known before
anything is asked: no pod list is read, and the logs are asked for first, beside the rest.
Otherwise the pods read for the last diagnosis of the same deployment (kept a few minutes) are
read again at once, speculatively. Either way the deployment's selector then decides: pods it
does not choose are ignored, pods it newly chooses are read in a second round trip. Redaction
and grouping of the logs run in a worker thread when a log is long.

A part that fails or is not permitted is named in the report and the rest is still shown. The
remediations the findings call for are offered only when their preconditions hold
(bot/diagnostics/remedies.py), each with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from bot.actions.base import Action, Context, KubeParams, kube_scope
from bot.actions.kubernetes import parse_time, pod_row, probe_failures, resolve_deployment
from bot.actions.output import Result, Section, table
from bot.blockkit import counted
from bot.diagnostics import messages
from bot.diagnostics.actions.pods import event_table, fold_events
from bot.diagnostics.actions.workloads import hpa_metrics, usage_rows
from bot.diagnostics.diagnosis_text import (
    ERROR_RATE_QUERY,
    LATENCY_QUERY,
    also_line,
    checked,
    findings_text,
    patterns_text,
    state_line,
)
from bot.diagnostics.evidence import Evidence, Signal, pod_state, signal
from bot.diagnostics.log_reads import (
    CRASH_LINES,
    LOG_SINCE_S,
    LOG_TAIL,
    LogRead,
    ReadLog,
    RecentReads,
    choose_reads,
    made_by,
    read_log,
    selects,
    stamp,
)
from bot.diagnostics.logpatterns import aggregate, in_order
from bot.diagnostics.owners import DeploymentName, events_of, owned
from bot.diagnostics.remedies import TROUBLE_AFTER, Verdict, check
from bot.diagnostics.revisions import revision_label, revisions, rolled_out_ago
from bot.diagnostics.rules import DEFAULT_RULES, Finding, Rule, findings
from bot.errors import FirelineError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.policy.authorizer import Scope

T = TypeVar("T")
SIGNALS = (ERROR_RATE_QUERY, LATENCY_QUERY)
SIGNAL_WINDOW = timedelta(hours=1)
SIGNAL_STEP_S = 60.0


class DiagnoseParams(KubeParams):
    positional = ("deployment",)

    deployment: DeploymentName
    """The deployment to diagnose (`deployment/NAME` too)."""


@dataclass
class Diagnosis:
    """What `diagnose` found: the evidence, the ranked findings, and what it offers to do."""

    evidence: Evidence
    findings: list[Finding] = field(default_factory=list)
    cluster: str | None = None
    offers: list[Verdict] = field(default_factory=list)
    """Remediations the findings call for whose preconditions hold."""
    declined: list[Verdict] = field(default_factory=list)
    """Those whose preconditions do not, with why."""
    checked: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        if self.findings:
            return self.findings[0].cause
        return messages.nothing_wrong(self.checked)


class Diagnose(Action[DiagnoseParams, Diagnosis]):
    """Names the likely cause of a deployment's trouble in the first line, with its evidence:
    pods and why they fail, the events of the deployment and what it owns, resource use
    against limits, the rollout history, autoscaling, the error rate and latency (Prometheus),
    and the logs of the pods that matter. Offers the remediations that fit, when they can be
    done."""

    name = "diagnose"
    usage = "diagnose <deployment> [-n namespace]"
    Params = DiagnoseParams

    def __init__(self, rules: tuple[Rule, ...] = DEFAULT_RULES) -> None:
        self.rules = rules
        self.recent = RecentReads()

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
                failures.append(messages.diagnose_part_not_allowed(name))
                return None
            try:
                async with asyncio.timeout(ctx.part_timeout_s):
                    return await work()
            except FirelineError as exc:
                failures.append(f"{name}: {exc}")
            except TimeoutError:
                failures.append(f"{name}: no answer within {ctx.part_timeout_s:g} s")
            return None

        key = (scope.cluster, ns, params.deployment)
        reading: dict[LogRead, asyncio.Task[ReadLog]] = {}
        seen: dict[str, tuple[str, str]] = {}  # shared by this diagnosis's log threads
        # The namespace's pods as a watch keeps them (bot/gateways/pod_watch.py): no list to
        # wait for, and the logs to read are known before anything is asked.
        kept = kube.watched_pods(ns) if "pods" in ctx.permitted else None
        if "logs" in ctx.permitted:
            # Before anything else: a log's answer is the slowest to make and to read, and
            # requests go out in the order their tasks are made. Without kept pods, those read
            # for the last diagnosis of this deployment.
            guess = (
                choose_reads(made_by(params.deployment, kept))
                if kept is not None
                else self.recent.get(key)
            )
            for read in guess:
                reading[read] = asyncio.create_task(read_log(kube, ns, read, seen))
        try:
            # A missing deployment (or a bug) cancels the other reads: no partial report then.
            async with asyncio.TaskGroup() as group:
                deployment = group.create_task(resolve_deployment(kube, ns, params.deployment))
                pods = group.create_task(
                    part("pods", lambda: _now(kept) if kept is not None else kube.list_pods(ns))
                )
                events = group.create_task(part("events", lambda: kube.list_events(ns)))
                metrics = group.create_task(part("top", lambda: kube.pod_metrics(ns)))
                sets = group.create_task(
                    part("rollout-history", lambda: kube.list_replicasets(ns, None))
                )
                hpas = group.create_task(part("hpa", lambda: kube.list_hpas(ns)))
                series = group.create_task(self._signals(params, ctx, failures))
                logs = group.create_task(
                    part("logs", lambda: self._logs(kube, ns, key, deployment, pods, reading, seen))
                )
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        finally:
            for task in reading.values():
                if not task.done():
                    task.cancel()
        kube.keep_pods_of(ns)  # a deployment is there: the next diagnosis knows its pods
        evidence = Evidence(params.deployment, ns, ctx.clock.now(), failures=failures)
        self._assemble(
            evidence, deployment.result(), pods.result(), events.result(), metrics.result(),
            sets.result(), hpas.result(),
        )  # fmt: skip
        evidence.signals = series.result()
        if logs.result() is not None:
            self._read_logs(evidence, logs.result() or [])
        diagnosis = Diagnosis(evidence, findings(evidence, self.rules), scope.cluster)
        diagnosis.checked = checked(evidence, ctx)
        self._offer(diagnosis, ctx, scope)
        return diagnosis

    # --- reading -------------------------------------------------------------------------

    async def _signals(
        self, params: DiagnoseParams, ctx: Context, failures: list[str]
    ) -> dict[str, Signal]:
        prometheus = ctx.policy.prometheus
        if prometheus is None or ctx.prometheus is None:
            return {}
        if "query" not in ctx.permitted:
            failures.append(messages.diagnose_part_not_allowed("query"))
            return {}
        gateway = ctx.prometheus
        end = ctx.clock.now()

        async def one(name: str) -> tuple[str, Signal | None]:
            spec = prometheus.queries[name]
            promql = spec.promql.replace("$service", params.deployment)
            try:
                async with asyncio.timeout(ctx.part_timeout_s):
                    got = await gateway.query_range(promql, end - SIGNAL_WINDOW, end, SIGNAL_STEP_S)
            except FirelineError as exc:
                failures.append(f"query {name}: {exc}")
                return name, None
            except TimeoutError:
                failures.append(f"query {name}: no answer within {ctx.part_timeout_s:g} s")
                return name, None
            return name, signal(name, spec.unit, got)

        wanted = []
        for name in SIGNALS:
            if name not in prometheus.queries:
                continue
            if not ctx.reaches(Scope("prometheus", name)):
                failures.append(messages.diagnose_query_not_reached(name))
                continue
            wanted.append(name)
        results = await asyncio.gather(*(one(n) for n in wanted))
        return {name: s for name, s in results if s is not None}

    async def _logs(
        self,
        kube: KubeGateway,
        ns: str,
        key: tuple[str, str, str],
        deployment: asyncio.Task[Obj],
        pods: asyncio.Task[list[Obj] | None],
        reading: dict[LogRead, asyncio.Task[ReadLog]],
        seen: dict[str, tuple[str, str]],
    ) -> list[tuple[LogRead, ReadLog]] | None:
        """The logs of the pods worth reading (`choose_reads`), once the pod list confirms
        them; `reading` holds those already started (the caller cancels what is left)."""
        listed, found = await pods, await deployment
        if listed is None:
            return None
        selector = (found.get("spec") or {}).get("selector") or {}
        mine = [p for p in listed if selects(selector, p["metadata"].get("labels") or {})]
        chosen = choose_reads(mine)
        for read in chosen:
            if read not in reading:
                reading[read] = asyncio.create_task(read_log(kube, ns, read, seen))
        self.recent.put(key, chosen)
        done = await asyncio.gather(*(reading[r] for r in chosen))
        return list(zip(chosen, done, strict=True))

    def _assemble(
        self,
        evidence: Evidence,
        deployment: Obj,
        pods: list[Obj] | None,
        events: list[Obj] | None,
        metrics: list[Obj] | None,
        sets: list[Obj] | None,
        hpas: list[Obj] | None,
    ) -> None:
        """Keep what belongs to the deployment: its selector's pods, the events of it and of
        what it owns, its UID's ReplicaSets, the HPA that scales it."""
        selector = (deployment.get("spec") or {}).get("selector") or {}
        mine = [p for p in pods or [] if selects(selector, p["metadata"].get("labels") or {})]
        evidence.replicas = int((deployment.get("spec") or {}).get("replicas") or 0)
        owner = owned(deployment, sets or [], mine)
        evidence.events = events_of(owner, events or [])
        probes = probe_failures(evidence.events)
        evidence.pods = [
            pod_state(p, pod_row(p, evidence.now, probes.get(p["metadata"]["name"], 0)))
            for p in mine
        ]
        names = {p["metadata"]["name"] for p in mine}
        if metrics is not None:
            evidence.usage = usage_rows(
                mine, [m for m in metrics if m["metadata"]["name"] in names]
            )
        if sets is not None:
            evidence.revisions = revisions(deployment, sets, mine)
        if hpas is not None:
            evidence.hpas = [
                h
                for h in hpas
                if (h.get("spec") or {}).get("scaleTargetRef", {}).get("name")
                == evidence.deployment
            ]

    def _read_logs(self, evidence: Evidence, logs: list[tuple[LogRead, ReadLog]]) -> None:
        """Group what was read. Each log's lines were classified in a worker thread as it
        arrived (`read_log`): what is left here is merging and counting, no pattern, over
        at most `LOG_PODS` bounded logs, so it runs on the loop."""
        current = [got.log for read, got in logs if not read.previous and not got.log.error]
        for read, got in logs:
            if got.log.error:
                evidence.failures.append(f"logs of {read.pod}: {got.log.error}")
            elif read.previous:
                evidence.crash_lines[read.pod] = got.log.lines[-CRASH_LINES:]
        latest = evidence.latest
        split = latest.rolled_out_at if latest is not None else None
        merged = in_order(*(got.classified for _, got in logs if not got.log.error))
        evidence.templates = aggregate(merged, split_at=split)
        evidence.logs_from = sorted({read.pod for read, got in logs if not got.log.error})
        starts = [parse_time(stamp(log.lines[0])) for log in current if log.lines]
        evidence.logs_since = min((s for s in starts if s), default=None)

    # --- offering --------------------------------------------------------------------------

    def _offer(self, diagnosis: Diagnosis, ctx: Context, scope: Scope) -> None:
        evidence = diagnosis.evidence
        seen: set[str] = set()
        for finding in diagnosis.findings[:2]:
            for remedy in finding.remedies:
                if remedy.action in seen:
                    continue
                seen.add(remedy.action)
                params: dict[str, Any] = {
                    "deployment": evidence.deployment,
                    "namespace": evidence.namespace,
                }
                if scope.cluster and scope.cluster != ctx.policy.cluster_name:
                    params["cluster"] = scope.cluster
                if remedy.action == "scale":
                    rule = ctx.policy.remediation.actions.get("scale")
                    step = rule.max_step if rule else 1
                    most = rule.max_replicas if rule else evidence.replicas + 1
                    params["replicas"] = min(
                        most, evidence.replicas + min(step, max(1, evidence.replicas))
                    )
                verdict = check(remedy.action, params, evidence, ctx.policy, cluster=scope.cluster)
                said = verdict.reason
                if said.startswith(TROUBLE_AFTER):  # the finding's own why says when, in its words
                    said = said.partition("; ")[2]
                reason = f"{remedy.why}; {said}" if said else remedy.why
                if verdict.offered:
                    verdict = replace(verdict, reason=reason)
                (diagnosis.offers if verdict.offered else diagnosis.declined).append(verdict)

    # --- rendering ---------------------------------------------------------------------------

    def render(self, params: DiagnoseParams, findings: Diagnosis, ctx: Context) -> Result:
        diagnosis, evidence = findings, findings.evidence
        now = evidence.now
        result = Result(f"Diagnosis of `{params.deployment}`")
        result.failures.extend(evidence.failures)
        result.headline.append(diagnosis.first_line)
        also = also_line(diagnosis.findings)
        if also:
            result.headline.append(also)
        state = state_line(evidence, said="\n".join(result.headline))
        if state:
            result.headline.append(state)
        found = findings_text(diagnosis.findings)
        if found:
            result.sections.append(Section("Findings, most likely first", found))
        if evidence.pods:
            ordered = sorted(evidence.pods, key=lambda p: (p.row.is_ready, -p.row.restarts, p.name))
            rows = [
                [p.name, p.row.phase, f"{p.row.ready}/{p.row.containers}", str(p.row.restarts),
                 p.row.age, p.row.reason]
                for p in ordered
            ]  # fmt: skip
            result.sections.append(
                Section(
                    "Pods",
                    table(rows, ["POD", "PHASE", "READY", "RESTARTS", "AGE", "LAST PROBLEM"]),
                    True,
                )
            )
        warnings = [e for e in evidence.events if e.get("type") == "Warning"]
        if warnings:
            result.sections.append(
                Section("Warnings (the deployment, its ReplicaSets and pods)",
                        event_table(fold_events(warnings), now), True)
            )  # fmt: skip
        if evidence.templates:
            # Counts are of the lines read, not of the hour: say so; and when the pods read
            # are newer than the rollout, that no line from before it was read.
            latest = evidence.rollout_to_split_at()
            newer = (
                f"; all logged after rev {latest.number} rolled out"
                if latest is not None and evidence.split_at_rollout() is None
                else ""
            )
            result.sections.append(
                Section(
                    f"Log patterns ({counted(len(evidence.logs_from), 'pod')}, "
                    f"up to {LOG_TAIL} lines each, {_window(evidence)}{newer})",
                    patterns_text(evidence),
                    True,
                )
            )
        hot = [u for u in evidence.usage or [] if u.hot]
        if hot:
            rows = [[u.pod, u.container, ", ".join(u.hot)] for u in hot]
            result.sections.append(
                Section("Near limits", table(rows, ["POD", "CONTAINER", "FLAG"]), True)
            )
        if evidence.revisions:
            rows = [
                [revision_label(r), r.images, rolled_out_ago(r, evidence.now), r.change_cause]
                for r in evidence.revisions[:5]
            ]  # fmt: skip
            result.sections.append(
                Section(
                    "Recent revisions",
                    table(rows, ["REV", "IMAGES", "ROLLED OUT", "CHANGE-CAUSE"]),
                    True,
                )
            )
        if evidence.hpas:
            rows = [
                [h["metadata"]["name"], str((h.get("status") or {}).get("currentReplicas")),
                 str((h.get("spec") or {}).get("maxReplicas")), hpa_metrics(h)]
                for h in evidence.hpas
            ]  # fmt: skip
            result.sections.append(
                Section("Autoscaling", table(rows, ["HPA", "CURRENT", "MAX", "METRICS"]), True)
            )
        if diagnosis.declined:
            result.sections.append(
                Section(
                    "", messages.not_offered([(v.action, v.reason) for v in diagnosis.declined])
                )
            )
        if diagnosis.findings:  # with none, the first line says what was checked already
            result.sections.append(Section("", messages.diagnose_checked(diagnosis.checked)))
        return result


async def _now(value: T) -> T:
    return value


def _window(evidence: Evidence) -> str:
    """How far back the logs read go: an hour at most, less when a pod's line limit was
    reached first (a busy pod's 200 lines may span minutes)."""
    since = evidence.logs_since
    if since is None or evidence.now - since >= timedelta(seconds=LOG_SINCE_S - 60):
        return "last hour"
    return f"the last {evidence.ago(since)}"
