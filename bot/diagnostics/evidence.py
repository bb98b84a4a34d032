"""What `diagnose` read about a deployment, in the shape its rules reason over.

Pure: `diagnose` (bot/diagnostics/actions/diagnose.py) reads the API and Prometheus, then builds
an `Evidence` with the functions here; the rules (bot/diagnostics/rules.py) and the remediation
preconditions (bot/diagnostics/remedies.py) only read it. So a rule is tested with an
`Evidence` made by hand, and the table of rules never touches a gateway.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.actions.kubernetes import PodRow, parse_time, short_duration
from bot.diagnostics.actions.workloads import Usage
from bot.diagnostics.logpatterns import Template
from bot.diagnostics.revisions import Revision
from bot.gateways.kubernetes import Obj
from bot.gateways.prometheus import Series

CRASH_WAITING = ("CrashLoopBackOff",)
PULL_WAITING = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName")


@dataclass(frozen=True)
class PodState:
    """One pod, as the rules read it."""

    row: PodRow
    created: datetime | None
    waiting: str | None
    """Why a container is not running: CrashLoopBackOff, ImagePullBackOff, …"""
    waiting_message: str
    last_reason: str | None
    """How the previous container ended: OOMKilled, Error, …"""
    last_exit: int | None
    last_finished: datetime | None
    images: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def crashing(self) -> bool:
        return self.waiting in CRASH_WAITING or (
            self.row.restarts > 0 and self.last_reason not in (None, "Completed", "OOMKilled")
        )

    @property
    def oom_killed(self) -> bool:
        # Exit 137 alone is any SIGKILL (a failed liveness probe too): only the reason says OOM.
        return self.last_reason == "OOMKilled"


def pod_state(pod: Obj, row: PodRow) -> PodState:
    waiting, message, reason, exit_code, finished = None, "", None, None, None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (cs.get("state") or {}).get("waiting") or {}
        if state.get("reason") and waiting is None:
            waiting, message = str(state["reason"]), str(state.get("message") or "")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if last and reason is None:
            reason = str(last.get("reason") or "Error")
            exit_code = last.get("exitCode")
            finished = parse_time(last.get("finishedAt"))
    containers = (pod.get("spec") or {}).get("containers") or []
    return PodState(
        row=row,
        created=parse_time(pod["metadata"].get("creationTimestamp")),
        waiting=waiting,
        waiting_message=message,
        last_reason=reason,
        last_exit=int(exit_code) if isinstance(exit_code, int) else None,
        last_finished=finished,
        images=tuple(str(c.get("image")) for c in containers),
    )


@dataclass(frozen=True)
class Signal:
    """One Prometheus query over the last hour, read for when it changed."""

    query: str
    unit: str
    now: float
    baseline: float
    """What it was at the start of the window (the median of the first third)."""
    peak: float
    began: datetime | None
    """When it rose above its baseline and stayed there; None when it is not raised."""

    @property
    def raised(self) -> bool:
        return self.began is not None


# How far above its baseline a signal must go, at least, to count as raised.
RISE_FLOOR = {"percent": 1.0, "seconds": 0.1}


def signal(query: str, unit: str, series: list[Series]) -> Signal | None:
    """The series (one per label set) folded into their highest value at each time."""
    by_time: dict[float, float] = {}
    for s in series:
        for at, value in s.points:
            if value == value:  # not NaN
                by_time[at] = max(value, by_time.get(at, value))
    if not by_time:
        return None
    times = sorted(by_time)
    values = [by_time[t] for t in times]
    head = values[: max(1, len(values) // 3)]
    baseline = statistics.median(head)
    threshold = max(baseline * 2, baseline + RISE_FLOOR.get(unit, 0.0))
    began = None
    if values[-1] > threshold:
        start = len(values) - 1
        while start > 0 and values[start - 1] > threshold:
            start -= 1
        if start > 0:  # raised since the window began: no start to place
            began = datetime.fromtimestamp(times[start], UTC)
        else:
            began = datetime.fromtimestamp(times[0], UTC)
    return Signal(query, unit, values[-1], baseline, max(values), began)


def show(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:.1f} %" if value < 10 else f"{value:.0f} %"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    return f"{value:.3g}"


@dataclass
class Evidence:
    """Everything `diagnose` read about one deployment (None: that part was not read)."""

    deployment: str
    namespace: str
    now: datetime
    replicas: int = 0
    pods: list[PodState] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    """Events of the deployment, its ReplicaSets and their pods."""
    usage: list[Usage] | None = None
    revisions: list[Revision] | None = None
    """Newest first."""
    hpas: list[Obj] | None = None
    signals: dict[str, Signal] = field(default_factory=dict)
    """By query name: `error-rate`, `p95-latency`."""
    templates: list[Template] | None = None
    """Error and warning lines of the logs read, by template, split at the latest rollout."""
    crash_lines: dict[str, list[str]] = field(default_factory=dict)
    """Pod → the last lines of its previous (crashed) container."""
    logs_from: list[str] = field(default_factory=list)
    logs_since: datetime | None = None
    failures: list[str] = field(default_factory=list)

    # --- the rollout ---------------------------------------------------------------------

    @property
    def latest(self) -> Revision | None:
        return self.revisions[0] if self.revisions else None

    def rolling_out(self) -> tuple[int, int] | None:
        """While the latest revision is still rolling out: (pods of earlier revisions, all
        pods), from the ReplicaSets' replicas; None once only the latest one has pods."""
        if not self.revisions or len(self.revisions) < 2:
            return None
        older = sum(r.replicas for r in self.revisions[1:])
        return (older, older + self.revisions[0].replicas) if older > 0 else None

    @property
    def previous(self) -> Revision | None:
        return self.revisions[1] if self.revisions and len(self.revisions) > 1 else None

    def ago(self, when: datetime) -> str:
        return short_duration((self.now - when).total_seconds())

    def rolled_out(self) -> str:
        """`rev 3 rolled out 22m ago`, or empty without a timed rollout."""
        latest = self.latest
        if latest is None or latest.rolled_out_at is None:
            return ""
        return f"rev {latest.number} rolled out {self.ago(latest.rolled_out_at)} ago"

    def logs_reach_before(self, when: datetime) -> bool:
        """Whether the logs read go back before `when` (pods older than it): only then can they
        say what was, or was not, logged before it."""
        return self.logs_since is not None and self.logs_since < when

    def rollout_to_split_at(self) -> Revision | None:
        """The latest revision, when it replaced another at a known time: the logs' counts
        before and after it say something."""
        latest = self.latest
        if latest is None or latest.rolled_out_at is None or self.previous is None:
            return None
        return latest

    def split_at_rollout(self) -> Revision | None:
        """`rollout_to_split_at`, when the logs read reach back before it. Otherwise every
        line read came after it, and a "before" count of 0 would say that nothing was logged
        before it, which was not read."""
        latest = self.rollout_to_split_at()
        at = latest.rolled_out_at if latest is not None else None
        return latest if at is not None and self.logs_reach_before(at) else None

    def recent_rollout(self, window: timedelta = timedelta(hours=6)) -> Revision | None:
        """The latest revision, when it rolled out within `window` and replaced another."""
        latest = self.rollout_to_split_at()
        if latest is None or latest.rolled_out_at is None:
            return None
        return latest if self.now - latest.rolled_out_at <= window else None

    # --- when the trouble began ----------------------------------------------------------

    def errors_began(self) -> datetime | None:
        """The earliest sign of errors: the error rate's rise, else the first error line of
        the most frequent error template."""
        rate = self.signals.get("error-rate")
        if rate is not None and rate.began is not None:
            return rate.began
        errors = [t for t in self.templates or [] if t.level == "error" and t.first_at]
        return min((t.first_at for t in errors[:3] if t.first_at), default=None)

    def trouble_began(self) -> datetime | None:
        """The earliest sign of trouble the rules read: raised signals, error lines, crashes."""
        times = [s.began for s in self.signals.values() if s.began is not None]
        # A pod whose image cannot be pulled has been in trouble since it was made.
        times += [p.created for p in self.pods if p.waiting in PULL_WAITING and p.created]
        errors = self.errors_began()
        if errors is not None:
            times.append(errors)
        return min(times, default=None)

    def began_before_rollout(self) -> bool:
        """Whether the evidence shows the trouble already there before the latest rollout."""
        latest = self.latest
        began = self.trouble_began()
        if latest is None or latest.rolled_out_at is None or began is None:
            return False
        if began < latest.rolled_out_at - timedelta(minutes=2):
            return True
        return any(t.before > 0 for t in (self.templates or [])[:3] if t.level == "error")

    def began_after_rollout(self) -> bool:
        latest = self.latest
        began = self.trouble_began()
        if latest is None or latest.rolled_out_at is None or began is None:
            return False
        near = latest.rolled_out_at - timedelta(minutes=2)
        return not self.began_before_rollout() and began >= near

    # --- pods --------------------------------------------------------------------------------

    @property
    def ready(self) -> int:
        return sum(1 for p in self.pods if p.row.is_ready)

    def hpa(self) -> Obj | None:
        for h in self.hpas or []:
            target = (h.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("name") == self.deployment:
                return h
        return None
