"""Scripted drills: `fireline sandbox --drill <name>`.

A drill (YAML in `bot/sandbox/data/drills/`) is a list of timed steps in sandbox time: alerts
that fire (real Alertmanager payloads to the bot's webhook), symptoms that develop in the
simulated cluster (more OOM kills, error lines in logs), messages people post. The team
responds on the sandbox page as they would in Slack.

Nothing happens until the team presses Start on the page (`DrillRun.begin`): drill time is
counted from then, when the first alert fires, so the minutes spent opening the page are not
the team's. The page points at the alert that started it. Each drill declares the `--speed` it
is made for: its targets are in drill time and, at that speed, leave a team the real seconds a
person needs (docs/decisions/sandbox.md). When the drill's incident is resolved (or the drill's
time is up) the clock stops and the bot posts the drill report in the incident channel: Block
Kit with how long the team took from the first alert to declare, acknowledge, first diagnosis
and mitigation, and their checklist answers; the whole report (the incident's own post-incident
report below the scores) as a Markdown file.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.blockkit import escape
from bot.durations import parse_duration
from bot.errors import ConfigurationError, FirelineError
from bot.incident import Incident
from bot.sandbox import scorecard
from bot.sandbox.doubles.kubernetes import add_logs, deployment_pods, mark_oom_killed
from bot.sandbox.live import LiveSandbox
from bot.sandbox.people import NAMESPACE
from bot.services import Services
from bot.settings import packaged_dir

log = logging.getLogger(__name__)

DRILLS = packaged_dir("sandbox", "data", "drills")
ALERTS = "alerts"
"""The channel (as the sandbox names it) where the bot posts alerts: the drill links to it."""
WATCH_S = 0.25
"""How often (real seconds) the drill looks for its incident's progress."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Post(_Strict):
    channel: str
    """Channel name (incidents, alerts, war-room)."""
    who: str
    """Persona handle: riley, casey, avery, nico."""
    text: str


class Logs(_Strict):
    deployment: str
    lines: list[str]


class Running(_Strict):
    """A symptom's cause: `deployment` still runs an image tagged `tag` (the bad release)."""

    deployment: str
    tag: str


class Step(_Strict):
    at: str
    """When, from the drill's start, in sandbox time (`0`, `90s`, `4m`)."""
    alert: str | None = None
    """An alert example's name (as in the fire-an-alert control) to fire."""
    resolved: bool = False
    """Send that alert as resolved instead."""
    oom: str | None = None
    """A deployment whose pods are OOM-killed once more (restarts + 1)."""
    logs: Logs | None = None
    post: Post | None = None
    note: str = ""
    """What the drill panel says happened."""
    while_running: Running | None = None
    """Only while the cause holds: once the team has rolled it back the step does not happen
    (and its log lines go only to pods that still run the bad image), so the script never
    contradicts a remediation that worked."""

    @field_validator("at")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> float:
        return parse_duration(self.at).total_seconds()


class Drill(_Strict):
    name: str
    title: str
    about: str
    steps: list[Step] = Field(min_length=1)
    speed: float = Field(gt=0, le=1000)
    """The `--speed` the drill is made for: at it, every target leaves a team enough real time."""
    ends_after: str = "60m"
    """The drill stops (and is scored) this long after it started, resolved or not."""
    targets: dict[str, str] = Field(default_factory=dict)
    """Target times from the alert, in drill time: declare, acknowledge, diagnose, mitigate."""

    @field_validator("targets")
    @classmethod
    def _milestones(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(MILESTONES)
        if unknown:
            raise ValueError(f"unknown targets {sorted(unknown)}; known: {list(MILESTONES)}")
        for duration in value.values():
            parse_duration(duration)
        return value

    def target_seconds(self) -> dict[str, float]:
        return {k: parse_duration(v).total_seconds() for k, v in self.targets.items()}

    def targets_text(self, speed: float, sep: str = ", ") -> str:
        """`declare 5 min 00 s (1 min 15 s real)`, …: the targets in drill time, and in real
        time at `speed`."""
        return sep.join(
            f"{MILESTONES[name]} {scorecard.duration(s)} ({scorecard.duration(s / speed)} real)"
            for name, s in self.target_seconds().items()
        )


MILESTONES = {
    "declare": "declare",
    "acknowledge": "acknowledge",
    "diagnose": "first diagnosis",
    "mitigate": "mitigate",
}


def available() -> list[str]:
    return sorted(p.stem for p in DRILLS.glob("*.yaml"))


def load_drill(name: str, directory: Path = DRILLS) -> Drill:
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available()) or "none"
        raise ConfigurationError(f"No drill named {name!r}; the drills are: {known}")
    try:
        return Drill.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise ConfigurationError(f"Drill {path} is invalid: {exc}") from None


class DrillRun:
    """One drill being played in a sandbox: its script, then its score."""

    def __init__(self, sandbox: LiveSandbox, drill: Drill) -> None:
        self.sandbox = sandbox
        self.drill = drill
        self.started: datetime | None = None
        """When the team pressed Start (drill time 0, the first alert); None until then."""
        self.ended: datetime | None = None
        """When the drill finished: its clock stops there."""
        self.begun = asyncio.Event()
        self.happened: list[str] = []
        self.incident_id: str | None = None
        self.alert: dict[str, str] | None = None
        """The message in which the bot posted the drill's first alert: {channel, ts, name}."""
        self._alert_name: str | None = None
        self._alerts_before: set[str] = set()
        self.report: str | None = None
        self.finished = asyncio.Event()

    def begin(self) -> bool:
        """Start the drill now (the page's Start button); False if it had started already."""
        if self.started is not None:
            return False
        self.started = self.sandbox.clock.now()
        self.begun.set()
        self._changed()
        return True

    def elapsed(self) -> float:
        """Seconds of drill time since Start, stopped at Finished."""
        if self.started is None:
            return 0.0
        end = self.ended or self.sandbox.clock.now()
        return max(0.0, (end - self.started).total_seconds())

    # -- the script ------------------------------------------------------------------------
    async def play(self) -> None:
        await self.begun.wait()
        clock = self.sandbox.clock
        for step in sorted(self.drill.steps, key=lambda s: s.seconds):
            await clock.sleep(step.seconds - self.elapsed())
            if self.finished.is_set():
                return
            if step.while_running is not None and not self._bad_pods(step.while_running):
                cause = step.while_running
                self.happened.append(f"({cause.deployment} no longer runs {cause.tag}: no more)")
                self._changed()
                continue
            try:
                await self._do(step)
            except (FirelineError, LookupError, ValueError) as exc:
                log.warning("drill step at %s failed: %s", step.at, exc)
            self.happened.append(step.note or self._describe(step))
            self._changed()

    def _bad_pods(self, cause: Running) -> list[str]:
        """Pods of the deployment that run the bad image (any, without a simulated cluster)."""
        cluster = self.sandbox.cluster
        if cluster is None:
            return []
        return [
            pod["metadata"]["name"]
            for pod in deployment_pods(cluster, NAMESPACE, cause.deployment)
            if any(c.get("image", "").endswith(f":{cause.tag}") for c in pod["spec"]["containers"])
        ]

    async def _do(self, step: Step) -> None:
        sandbox = self.sandbox
        if step.alert is not None:
            examples = {e.name: e for e in sandbox.alert_examples()}
            if step.alert not in examples:
                raise LookupError(f"no alert example {step.alert!r}")
            if self._alert_name is None:  # the alert that starts the drill: point the team at it
                self._alert_name = step.alert
                alerts = sandbox.channels[ALERTS]
                self._alerts_before = {m["ts"] for m in sandbox.slack.messages(alerts)}
            await sandbox.fire_alert(
                examples[step.alert], status="resolved" if step.resolved else "firing"
            )
        cluster = sandbox.cluster
        if step.oom is not None and cluster is not None:
            for pod in deployment_pods(cluster, NAMESPACE, step.oom):
                restarts = pod["status"]["containerStatuses"][0].get("restartCount", 0)
                mark_oom_killed(
                    cluster,
                    NAMESPACE,
                    pod["metadata"]["name"],
                    restarts=restarts + 1,
                    last_killed_seconds_ago=1,
                )
        if step.logs is not None and cluster is not None:
            names = [
                p["metadata"]["name"]
                for p in deployment_pods(cluster, NAMESPACE, step.logs.deployment)
            ]
            cause = step.while_running
            if cause is not None and cause.deployment == step.logs.deployment:
                names = self._bad_pods(cause)
            for name in names:
                add_logs(cluster, NAMESPACE, name, step.logs.lines)
        if step.post is not None:
            who = next(u for u, p in sandbox.people.items() if p.handle == step.post.who)
            channel = sandbox.channels[step.post.channel]
            await sandbox.slack.post_as_user(who, channel, step.post.text)

    @staticmethod
    def _describe(step: Step) -> str:
        if step.alert:
            return f"alert {'resolved' if step.resolved else 'fired'}: {step.alert}"
        if step.oom:
            return f"{step.oom}: pods OOM-killed again"
        if step.logs:
            return f"{step.logs.deployment}: new log lines"
        return "a message was posted" if step.post else "nothing"

    # -- watching the team, then the score ---------------------------------------------------
    async def watch(self) -> None:
        """Find the incident declared for the drill; score when it is resolved or time is up."""
        await self.begun.wait()
        assert self.started is not None
        store = self._services().store
        ends_after = parse_duration(self.drill.ends_after).total_seconds()
        incident: Incident | None = None
        while not self.finished.is_set():
            await asyncio.sleep(WATCH_S)
            self._find_alert()
            if incident is None:
                incidents = await store.list_incidents(open_only=False)
                mine = [i for i in incidents if i.created_at >= self.started]
                incident = min(mine, key=lambda i: i.created_at, default=None)
                if incident is not None:
                    self.incident_id = incident.id
                    self._changed()
            else:
                incident = await store.get(incident.id)
            over = self.elapsed() >= ends_after
            if incident is not None and (incident.resolved_at is not None or over):
                await self.finish(incident)
            elif over:
                self._stop_clock()
                self.finished.set()
                self._changed()

    def _find_alert(self) -> None:
        """The bot's post of the drill's first alert in #alerts (it arrives through the alert
        pipeline, a moment after the webhook): the page links the team to it."""
        if self.alert is not None or self._alert_name is None:
            return
        channel = self.sandbox.channels[ALERTS]
        for message in self.sandbox.slack.messages(channel):
            if message["ts"] not in self._alerts_before:
                self.alert = {"channel": channel, "ts": message["ts"], "name": self._alert_name}
                self._changed()
                return

    def _stop_clock(self, at: datetime | None = None) -> None:
        """Stop the drill's clock at `at` (the incident's resolution), else now."""
        if self.ended is None:
            self.ended = min(at or self.sandbox.clock.now(), self.sandbox.clock.now())

    async def finish(self, incident: Incident) -> str:
        assert self.started is not None
        self._stop_clock(incident.resolved_at)
        services = self._services()
        result = scorecard.score(
            self.started,
            incident,
            await services.store.audit_log(1000),
            await services.followups.checklists_for_report(incident.id),
        )
        _, report = await services.incidents.render_report(incident.id)
        targets = self.drill.target_seconds()
        heading = scorecard.render(self.drill.title, result, targets)
        self.report = f"{heading}\n{report}"
        if incident.channel_id:
            text, blocks = scorecard.blocks(
                self.drill.title, result, targets, self.sandbox.clock.speed
            )
            await services.slack.post_message(incident.channel_id, text, blocks)
            await services.slack.upload_file(
                incident.channel_id,
                f"drill-{incident.id}.md",
                self.report,
                f"Drill report: {incident.id}",
                "",
            )
        self.finished.set()
        self._changed()
        return self.report

    def status(self) -> dict[str, object]:
        """What the page's drill panel shows (mrkdwn) and the state its buttons need."""
        drill, speed = self.drill, self.sandbox.clock.speed
        e = escape
        title = f"*{e(drill.title)}*"
        if self.ended is not None:
            title += f" · finished after {scorecard.duration(self.elapsed())}"
        lines = [title, e(drill.about), "", f"*Targets* from the first alert, at ×{speed:g}:"]
        lines.append("• " + e(drill.targets_text(speed, "\n• ")))
        if speed != drill.speed:
            lines.append(
                f"⚠️ Made for ×{drill.speed:g}: run `fireline sandbox --drill {e(drill.name)}` "
                "without --speed for its own."
            )
        if self.happened:
            lines += ["", "*So far*", *[f"• {e(h)}" for h in self.happened]]
        lines.append("")
        if self.started is None:
            lines.append("Press *Start* when your team is ready: the first alert fires then.")
        elif self.finished.is_set():
            lines.append("Finished: the drill report is in the incident channel.")
        elif self.incident_id:
            lines.append(f"Scored on {e(self.incident_id)}: resolve it to finish.")
        else:
            lines.append("Declare an incident to start the scoring.")
        return {
            "name": drill.name,
            "text": "\n".join(lines),
            "waiting": self.started is None,
            "elapsed": self.elapsed(),
            "finished": self.finished.is_set(),
            "alert": self.alert,
            "incident": self.incident_id,
            "speed": drill.speed,
        }

    def _services(self) -> Services:
        assert self.sandbox.app is not None
        return self.sandbox.app.services

    def _changed(self) -> None:
        if self.sandbox.changes is not None:
            self.sandbox.changes.bump()


def start_drill(sandbox: LiveSandbox, drill: Drill) -> DrillRun:
    """Set `drill` up in a running sandbox: the script and the watcher wait for the team's
    Start (`DrillRun.begin`), then run until it stops."""
    assert sandbox.app is not None
    run = DrillRun(sandbox, drill)
    sandbox.drill = run
    sandbox.app.spawn(run.play(), forever=True)
    sandbox.app.spawn(run.watch(), forever=True)
    return run
