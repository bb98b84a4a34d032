"""Diagnosis rules read from Kubernetes: images, OOM kills, crash loops, probes, the
autoscaler, CPU and memory against limits, pods not ready (see bot/diagnostics/rules.py)."""

from __future__ import annotations

from bot.blockkit import counted
from bot.diagnostics.evidence import PULL_WAITING, Evidence
from bot.diagnostics.findings import (
    CPU_SATURATED,
    MEMORY_PRESSURE,
    Finding,
    Remedy,
    _cpu,
    _mem,
    _memory_limit,
    _rollback,
    _since,
    _slower,
)
from bot.diagnostics.rules_logs import last_words


def image_pull(evidence: Evidence) -> Finding | None:
    """Pods whose image cannot be pulled never start: the image or its tag is wrong, or the
    registry refuses."""
    stuck = [p for p in evidence.pods if p.waiting in PULL_WAITING]
    if not stuck:
        return None
    image = next((i for p in stuck for i in p.images), "?")
    why = ""
    for event in evidence.events:
        message = str(event.get("message") or "")
        if event.get("reason") == "Failed" and "pull" in message.lower():
            why = ": " + message.rsplit(": ", 1)[-1][:80]
            break
    cause = (
        f"Image `{image}` cannot be pulled on {len(stuck)}/{len(evidence.pods)} pods"
        f"{_since(evidence)}{why}"
    )
    ready = f"{evidence.ready}/{len(evidence.pods)} pods ready"
    return Finding("image-pull", cause, 0.95, (ready,), _rollback(evidence, "the failing image"))


def oom_killed(evidence: Evidence) -> Finding | None:
    """Containers killed for going over their memory limit (OOMKilled, exit 137): a leak, or a
    limit too low for the load."""
    killed = [p for p in evidence.pods if p.oom_killed]
    if not killed:
        return None
    # Kubernetes keeps only each container's last termination, so how many of the restarts
    # were OOM kills is not known: the line counts pods and restarts, each named as such.
    restarts = sum(p.row.restarts for p in killed)
    last = max((p.last_finished for p in killed if p.last_finished), default=None)
    cause = f"OOMKilled on {len(killed)}/{len(evidence.pods)} pods{_since(evidence)}"
    if last is not None:
        cause += f", the last {evidence.ago(last)} ago"
    if restarts:
        cause += f" ({counted(restarts, 'restart')} between them)"
    memory = _memory_limit(evidence)
    if memory is not None:
        cause += f"; memory at {memory[0]:.0%} of its {_mem(memory[1])} limit".replace("%", " %")
    remedies = (
        *_rollback(evidence, "the memory growth"),
        Remedy("restart", "buys time before the next OOM kill; it does not fix the leak"),
    )
    return Finding("oom-killed", cause, 0.9, (), remedies)


def crash_loop(evidence: Evidence) -> Finding | None:
    """Containers that keep exiting (CrashLoopBackOff): the previous container's last lines
    say why."""
    crashing = [p for p in evidence.pods if p.crashing and not p.oom_killed]
    if not crashing:
        return None
    exits = sorted({p.last_exit for p in crashing if p.last_exit is not None})
    restarts = max(p.row.restarts for p in crashing)
    cause = (
        f"CrashLoopBackOff on {len(crashing)}/{len(evidence.pods)} pods{_since(evidence)} "
        f"(exit {', '.join(map(str, exits)) or '?'}, {restarts} restarts)"
    )
    last = last_words(evidence, [p.name for p in crashing])
    if last:
        cause += f": `{last}`"
    return Finding("crash-loop", cause, 0.9, (), _rollback(evidence, "the crashes"))


def probe_failing(evidence: Evidence) -> Finding | None:
    """Pods fail their readiness or liveness probe: they are taken out of the service (or
    restarted), and with none ready the service answers 503."""
    failing = [
        e
        for e in evidence.events
        if e.get("reason") == "Unhealthy" and (e.get("involvedObject") or {}).get("kind") == "Pod"
    ]
    if not failing:
        return None
    pods = {str((e.get("involvedObject") or {}).get("name")) for e in failing}
    count = sum(int(e.get("count") or 1) for e in failing)
    message = str(failing[-1].get("message") or "")
    kind = "Liveness" if message.startswith("Liveness") else "Readiness"
    detail = message.split(": ", 1)[-1].replace("`", "'")
    if len(detail) > 90:
        detail = detail[:89] + "…"
    cause = f"{kind} probe failing on {len(pods)}/{len(evidence.pods)} pods (×{count}): `{detail}`"
    if evidence.pods and evidence.ready == 0:
        cause += "; no pod is ready, so the service has no endpoints"
    cause += _since(evidence)
    return Finding(
        "probe-failing", cause, 0.8, (), (
            *_rollback(evidence, "the failing probes"),
            Remedy("restart", "replaces pods stuck in a bad state"),
        ),
    )  # fmt: skip


def _hpa_cpu(hpa: dict[str, object]) -> tuple[int, int] | None:
    """(current, target) CPU utilisation of an HPA, in % of requests."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    target = current = None
    for m in spec.get("metrics") or []:  # type: ignore[attr-defined]
        resource = m.get("resource") or {}
        if resource.get("name") == "cpu":
            target = (resource.get("target") or {}).get("averageUtilization")
    for m in status.get("currentMetrics") or []:  # type: ignore[attr-defined]
        resource = m.get("resource") or {}
        if resource.get("name") == "cpu":
            current = (resource.get("current") or {}).get("averageUtilization")
    if target is None or current is None:
        return None
    return int(current), int(target)


def autoscaler_maxed(evidence: Evidence) -> Finding | None:
    """The autoscaler is pinned at its maximum with CPU above its target: more load than the
    deployment may scale to."""
    hpa = evidence.hpa()
    if hpa is None:
        return None
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    current, most = int(status.get("currentReplicas") or 0), int(spec.get("maxReplicas") or 0)
    if not most or current < most:
        return None
    cpu = _hpa_cpu(hpa)
    name = hpa["metadata"]["name"]
    cause = f"HPA `{name}` pinned at its max ({current}/{most} replicas)"
    if cpu is not None:
        if cpu[0] <= cpu[1]:
            return None
        cause += f" with CPU at {cpu[0]} % of requests (target {cpu[1]} %)"
    cause += "; raise its maxReplicas, or find what costs more CPU"
    return Finding("autoscaler-maxed", cause, 0.8)


def cpu_saturated(evidence: Evidence) -> Finding | None:
    """Containers at their CPU limit are throttled: requests queue and latency rises."""
    rows = [u for u in evidence.usage or [] if u.cpu_limit]
    hot = [u for u in rows if u.cpu / u.cpu_limit >= CPU_SATURATED]
    if not hot or len(hot) * 2 < len(rows):
        return None
    share = max(u.cpu / u.cpu_limit for u in hot)
    limit = hot[0].cpu_limit
    cause = f"CPU at {share:.0%} of its {_cpu(limit)} limit on {len(hot)}/{len(rows)} pods "
    cause = cause.replace("%", " %") + "(throttled)"
    slow = _slower(evidence)
    remedies = [Remedy("scale", "more pods share the load")]
    remedies += _rollback(evidence, "the CPU rise")
    return Finding(
        "cpu-saturated", cause + slow.text + _since(evidence), 0.7, (), tuple(remedies),
        facts=(slow,) if slow.text else (),
    )  # fmt: skip


def memory_pressure(evidence: Evidence) -> Finding | None:
    """Memory close to its limit without an OOM kill yet: the next growth is a kill."""
    if any(p.oom_killed for p in evidence.pods):
        return None
    rows = [u for u in evidence.usage or [] if u.mem_limit]
    high = [u for u in rows if u.memory / u.mem_limit >= MEMORY_PRESSURE]
    if not high:
        return None
    top = max(high, key=lambda u: u.memory / u.mem_limit)
    share = f"{top.memory / top.mem_limit:.0%}".replace("%", " %")
    cause = (
        f"Memory at {share} of its {_mem(top.mem_limit)} limit on {len(high)}/{len(rows)} pods "
        "(no OOM kill yet)"
    )
    return Finding(
        "memory-pressure", cause, 0.65, (),
        (Remedy("restart", "resets memory and buys time; it does not fix the growth"),),
    )  # fmt: skip


def pods_not_ready(evidence: Evidence) -> Finding | None:
    """Pods not ready, for no reason another rule names."""
    waiting = [p for p in evidence.pods if not p.row.is_ready]
    if not waiting:
        return None
    reasons = sorted({p.row.reason for p in waiting if p.row.reason != "-"})
    cause = f"{len(waiting)}/{len(evidence.pods)} pods not ready" + (
        f" ({', '.join(reasons)[:100]})" if reasons else ""
    )
    return Finding("pods-not-ready", cause, 0.45)
