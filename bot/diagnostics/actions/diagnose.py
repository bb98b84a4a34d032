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
names, which come with the pod list; so the pods read for the last diagnosis of the same
deployment (kept a few minutes) are read again at once, speculatively, beside the lists, and
the list then decides: pods it no longer chooses are ignored, pods it newly chooses are read
in a second round trip. Redaction and grouping of the logs run in a worker thread.

A part that fails or is not permitted is named in the report and the rest is still shown. The
remediations the findings call for are offered only when their preconditions hold
(bot/diagnostics/remedies.py), each with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from bot.actions.base import Action, Context, KubeParams, kube_scope
from bot.actions.kubernetes import parse_time, pod_row, probe_failures, resolve_deployment
from bot.actions.output import Result, Section, table
from bot.diagnostics import messages
from bot.diagnostics.actions import logs as log_reading
from bot.diagnostics.actions.logs import PodLog, in_time_order
from bot.diagnostics.actions.pods import event_table, fold_events, pods_headline
from bot.diagnostics.actions.workloads import hpa_metrics, revisions, usage_rows
from bot.diagnostics.evidence import Evidence, Signal, pod_state, show, signal
from bot.diagnostics.fitting import SECTION_BUDGET, slack_length
from bot.diagnostics.logpatterns import group_lines
from bot.diagnostics.owners import DeploymentName, events_of, owned
from bot.diagnostics.remedies import Verdict, check
from bot.diagnostics.rules import DEFAULT_RULES, Finding, Rule, findings
from bot.errors import FirelineError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.policy.authorizer import Scope

T = TypeVar("T")
ERROR_RATE_QUERY = "error-rate"
LATENCY_QUERY = "p95-latency"
SIGNALS = (ERROR_RATE_QUERY, LATENCY_QUERY)
SIGNAL_WINDOW = timedelta(hours=1)
SIGNAL_STEP_S = 60.0

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


class DiagnoseParams(KubeParams):
    positional = ("deployment",)

    deployment: DeploymentName
    """The deployment to diagnose (`deployment/NAME` too)."""


@dataclass(frozen=True)
class LogRead:
    pod: str
    container: str
    previous: bool


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
                series = group.create_task(self._signals(params, ctx, failures))
                logs = group.create_task(
                    part("logs", lambda: self._logs(kube, ns, key, deployment, pods))
                )
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        evidence = Evidence(params.deployment, ns, ctx.clock.now(), failures=failures)
        self._assemble(
            evidence, deployment.result(), pods.result(), events.result(), metrics.result(),
            sets.result(), hpas.result(),
        )  # fmt: skip
        evidence.signals = series.result()
        if logs.result() is not None:
            await asyncio.to_thread(self._read_logs, evidence, logs.result() or [])
        diagnosis = Diagnosis(evidence, findings(evidence, self.rules), scope.cluster)
        diagnosis.checked = _checked(evidence, ctx)
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
    ) -> list[tuple[LogRead, PodLog]] | None:
        reading: dict[LogRead, asyncio.Task[PodLog]] = {}

        def start(read: LogRead) -> None:
            if read not in reading:
                reading[read] = asyncio.create_task(_read(kube, ns, read))

        for read in self.recent.get(key):
            start(read)  # at once, beside the lists: the pods read last time
        try:
            listed, found = await pods, await deployment
            if listed is None:
                return None
            selector = (found.get("spec") or {}).get("selector") or {}
            mine = [p for p in listed if selects(selector, p["metadata"].get("labels") or {})]
            chosen = choose_reads(mine)
            for read in chosen:
                start(read)
            self.recent.put(key, chosen)
            done = await asyncio.gather(*(reading[r] for r in chosen))
            return list(zip(chosen, done, strict=True))
        finally:
            for task in reading.values():
                if not task.done():
                    task.cancel()

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
            evidence.revisions = revisions(deployment, sets)
        if hpas is not None:
            evidence.hpas = [
                h
                for h in hpas
                if (h.get("spec") or {}).get("scaleTargetRef", {}).get("name")
                == evidence.deployment
            ]

    def _read_logs(self, evidence: Evidence, logs: list[tuple[LogRead, PodLog]]) -> None:
        """Group what was read (in a worker thread: it is outside text)."""
        current = [log for read, log in logs if not read.previous and not log.error]
        for read, log in logs:
            if log.error:
                evidence.failures.append(f"logs of {read.pod}: {log.error}")
            elif read.previous:
                evidence.crash_lines[read.pod] = log.lines[-CRASH_LINES:]
        latest = evidence.latest
        split = latest.created if latest is not None else None
        lines = in_time_order([log for _, log in logs if not log.error])
        evidence.templates = group_lines(lines, levels=("error", "warning"), split_at=split)
        evidence.logs_from = sorted({read.pod for read, log in logs if not log.error})
        starts = [parse_time(_stamp(log.lines[0])) for log in current if log.lines]
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
                reason = f"{remedy.why}; {verdict.reason}" if verdict.reason else remedy.why
                verdict = Verdict(
                    verdict.action,
                    verdict.params,
                    verdict.offered,
                    reason if verdict.offered else verdict.reason,
                )
                (diagnosis.offers if verdict.offered else diagnosis.declined).append(verdict)

    # --- rendering ---------------------------------------------------------------------------

    def render(self, params: DiagnoseParams, findings: Diagnosis, ctx: Context) -> Result:
        diagnosis, evidence = findings, findings.evidence
        now = evidence.now
        result = Result(f"Diagnosis of `{params.deployment}`")
        result.failures.extend(evidence.failures)
        result.headline.append(diagnosis.first_line)
        also = [f.cause for f in diagnosis.findings[1:3] if f.confidence >= 0.5]
        if also:
            result.headline.append("Also: " + " · ".join(also))
        result.headline.append(_state_line(evidence))
        if diagnosis.findings:
            lines = []
            for f in diagnosis.findings:
                lines.append(f"• [{_confidence(f.confidence)}] {f.cause}")
                lines += [f"   – {e}" for e in f.evidence]
            result.sections.append(Section("Findings, most likely first", "\n".join(lines)))
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
            result.sections.append(
                Section(
                    f"Log patterns ({len(evidence.logs_from)} pod(s), last hour)",
                    _patterns(evidence),
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
                [str(r.number), r.images,
                 (evidence.ago(r.created) + " ago") if r.created else "?", r.change_cause]
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
        result.sections.append(Section("", messages.diagnose_checked(diagnosis.checked)))
        return result


async def _read(kube: KubeGateway, ns: str, read: LogRead) -> PodLog:
    try:
        text = await kube.pod_log(
            ns,
            read.pod,
            container=read.container or None,
            since_s=LOG_SINCE_S,
            previous=read.previous,
            tail_lines=PREVIOUS_TAIL if read.previous else LOG_TAIL,
            limit_bytes=PREVIOUS_BYTES if read.previous else LOG_BYTES,
        )
    except FirelineError as exc:
        return PodLog(read.pod, [], error=str(exc))
    # Looked up at the call, so a test's watch on `logs.read_lines` sees these calls too.
    lines, truncated = await asyncio.to_thread(
        log_reading.read_lines, text, None, PREVIOUS_BYTES if read.previous else LOG_BYTES
    )
    return PodLog(read.pod, lines, truncated=truncated)


def _stamp(line: str) -> str:
    return line.split(" ", 1)[0]


def _confidence(value: float) -> str:
    return "high" if value >= 0.8 else "medium" if value >= 0.6 else "low"


def _state_line(evidence: Evidence) -> str:
    """The state at a glance: pods, the rollout, the signals, autoscaling."""
    parts = (
        pods_headline([p.row for p in evidence.pods], evidence.now)
        if evidence.pods
        else ["no pods found"]
    )
    rolled = evidence.rolled_out()
    if rolled:
        parts.append(rolled)
    for name, s in sorted(evidence.signals.items()):
        label = "error rate" if name == ERROR_RATE_QUERY else name
        parts.append(f"{label} {show(s.now, s.unit)}")
    hot = [u for u in evidence.usage or [] if u.hot]
    if hot:
        parts.append(f"{len(hot)} container(s) > 80 % of a limit")
    hpa = evidence.hpa()
    if hpa is not None:
        spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
        if int(status.get("currentReplicas") or 0) >= int(spec.get("maxReplicas") or 1 << 30):
            parts.append(f"HPA {hpa['metadata']['name']} pinned at max")
    return " · ".join(parts)


def _patterns(evidence: Evidence) -> str:
    templates = evidence.templates or []
    latest = evidence.latest
    split = latest is not None and latest.created is not None
    count = min(12, len(templates))
    while True:
        rows = []
        for t in templates[:count]:
            row = [f"×{t.count}", t.level[:4].upper(), t.first_seen, t.last_seen]
            if split:
                row += [str(t.before), str(t.after)]
            rows.append([*row, t.template[:120]])
        header = ["COUNT", "LEVEL", "FIRST", "LAST"]
        if split and latest is not None:
            header += [f"<REV {latest.number}", f"≥REV {latest.number}"]
        text = table(rows, [*header, "PATTERN"])
        if count < len(templates):
            text += f"\n… and {len(templates) - count} rarer patterns"
        if slack_length(text) <= SECTION_BUDGET or count <= 1:
            return text
        count -= 1


def _checked(evidence: Evidence, ctx: Context) -> list[str]:
    """What was looked at, for the line that says so (and for "nothing wrong")."""
    checked = []
    if evidence.pods:
        restarts = sum(p.row.restarts for p in evidence.pods)
        checked.append(f"{evidence.ready}/{len(evidence.pods)} pods ready, {restarts} restarts")
    warnings = sum(1 for e in evidence.events if e.get("type") == "Warning")
    checked.append(f"{warnings} warning events")
    if evidence.usage is not None:
        checked.append(f"CPU and memory of {len(evidence.usage)} container(s) against limits")
    if evidence.templates is not None:
        errors = sum(t.count for t in evidence.templates if t.level == "error")
        checked.append(f"{errors} error lines in the logs of {len(evidence.logs_from)} pod(s)")
    for name, s in sorted(evidence.signals.items()):
        label = "error rate" if name == ERROR_RATE_QUERY else name
        checked.append(f"{label} {show(s.now, s.unit)}")
    rolled = evidence.rolled_out()
    if rolled:
        checked.append(rolled)
    if evidence.hpas:
        checked.append("autoscaling")
    return checked
