"""Scripted drills: `fireline sandbox --drill <name>`.

A drill (YAML in `bot/sandbox/data/drills/`) is a list of timed steps in sandbox time: alerts
that fire (real Alertmanager payloads to the bot's webhook), symptoms that develop in the
simulated cluster (more OOM kills, error lines in logs), messages people post. The team
responds on the sandbox page as they would in Slack. When the drill's incident is resolved (or
the drill's time is up) the bot posts the drill report in the incident channel: how long the
team took from the first alert to declare, acknowledge, first diagnosis and mitigation, and
their checklist answers, above the incident's own post-incident report.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    ends_after: str = "60m"
    """The drill stops (and is scored) this long after it started, resolved or not."""
    targets: dict[str, str] = Field(default_factory=dict)
    """Target times from the alert: declare, acknowledge, diagnose, mitigate."""

    def target_seconds(self) -> dict[str, float]:
        return {k: parse_duration(v).total_seconds() for k, v in self.targets.items()}


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
        self.started: datetime = sandbox.clock.now()
        self.happened: list[str] = []
        self.incident_id: str | None = None
        self.report: str | None = None
        self.finished = asyncio.Event()

    # -- the script ------------------------------------------------------------------------
    async def play(self) -> None:
        clock = self.sandbox.clock
        for step in sorted(self.drill.steps, key=lambda s: s.seconds):
            wait = step.seconds - (clock.now() - self.started).total_seconds()
            await clock.sleep(wait)
            if self.finished.is_set():
                return
            try:
                await self._do(step)
            except (FirelineError, LookupError, ValueError) as exc:
                log.warning("drill step at %s failed: %s", step.at, exc)
            self.happened.append(step.note or self._describe(step))
            self._changed()

    async def _do(self, step: Step) -> None:
        sandbox = self.sandbox
        if step.alert is not None:
            examples = {e.name: e for e in sandbox.alert_examples()}
            if step.alert not in examples:
                raise LookupError(f"no alert example {step.alert!r}")
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
            for pod in deployment_pods(cluster, NAMESPACE, step.logs.deployment):
                add_logs(cluster, NAMESPACE, pod["metadata"]["name"], step.logs.lines)
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
        clock, store = self.sandbox.clock, self._services().store
        ends_after = parse_duration(self.drill.ends_after)
        incident: Incident | None = None
        while not self.finished.is_set():
            await asyncio.sleep(WATCH_S)
            if incident is None:
                incidents = await store.list_incidents(open_only=False)
                mine = [i for i in incidents if i.created_at >= self.started]
                incident = min(mine, key=lambda i: i.created_at, default=None)
                if incident is not None:
                    self.incident_id = incident.id
                    self._changed()
            else:
                incident = await store.get(incident.id)
            over = clock.now() - self.started >= ends_after
            if incident is not None and (incident.resolved_at is not None or over):
                await self.finish(incident)
            elif over:
                self.finished.set()
                self._changed()

    async def finish(self, incident: Incident) -> str:
        services = self._services()
        result = scorecard.score(
            self.started,
            incident,
            await services.store.audit_log(1000),
            await services.followups.checklists_for_report(incident.id),
        )
        _, report = await services.incidents.render_report(incident.id)
        heading = scorecard.render(self.drill.title, result, self.drill.target_seconds())
        self.report = f"{heading}\n{report}"
        if incident.channel_id:
            await services.slack.post_message(incident.channel_id, heading)
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
        elapsed = (self.sandbox.clock.now() - self.started).total_seconds()
        lines = [f"*{self.drill.title}* · {scorecard.duration(elapsed)} in", self.drill.about]
        lines += [f"• {h}" for h in self.happened]
        if self.finished.is_set():
            lines.append("Finished: the drill report is in the incident channel.")
        elif self.incident_id:
            lines.append(f"Scored on {self.incident_id}: resolve it to finish.")
        else:
            lines.append("Declare an incident to start the scoring.")
        done = self.finished.is_set()
        return {"name": self.drill.name, "text": "\n".join(lines), "finished": done}

    def _services(self) -> Services:
        assert self.sandbox.app is not None
        return self.sandbox.app.services

    def _changed(self) -> None:
        if self.sandbox.changes is not None:
            self.sandbox.changes.bump()


def start_drill(sandbox: LiveSandbox, drill: Drill) -> DrillRun:
    """Start `drill` in a running sandbox: the script and the watcher run until it stops."""
    assert sandbox.app is not None
    run = DrillRun(sandbox, drill)
    sandbox.drill = run
    sandbox.app.spawn(run.play(), forever=True)
    sandbox.app.spawn(run.watch(), forever=True)
    return run
