"""`logs`: a bounded tail of a pod's or deployment's logs, errors grouped first, secrets removed.

A pod's log is outside text of up to 1 MB, and `--grep` is a person's pattern: the pattern runs
in RE2 (linear time, `bot.runtime.patterns`), and redaction, the grep and the grouping of error
lines run in a worker thread, so the event loop keeps acking while a hostile log is read.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field, field_validator

from bot import messages as shared
from bot.actions.base import (
    KUBE_FLAGS,
    Action,
    ContainerName,
    Context,
    KubeParams,
    close_matches,
    kube_scope,
)
from bot.actions.kubernetes import is_selector, pods_for
from bot.actions.output import Attachment, Result, Section, table
from bot.blockkit import counted
from bot.diagnostics import messages
from bot.diagnostics.fitting import SECTION_BUDGET, newest_that_fit, slack_length
from bot.diagnostics.logpatterns import Template, group_errors, line_time, short_stamp
from bot.diagnostics.owners import Target
from bot.errors import FirelineError, NotFound
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.policy.authorizer import Scope
from bot.runtime.patterns import Pattern, PatternError, user_pattern
from bot.runtime.redaction import redact

DURATION = re.compile(r"^(\d+)([smhd])$")
MAX_PODS = 10
TAIL_SHOWN = 40


def parse_since(value: str) -> int:
    match = DURATION.match(value.strip())
    if not match:
        raise ValueError("must be a duration such as 30s, 10m, 2h or 1d")
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if not 1 <= seconds <= 7 * 86400:
        raise ValueError("must be between 1s and 7d")
    return seconds


class LogsParams(KubeParams):
    positional = ("target",)
    flags: ClassVar[dict[str, str]] = {
        **KUBE_FLAGS,
        "--since": "since",
        "--previous": "previous",
        "-p": "previous",
        "--grep": "grep",
        "-c": "container",
        "--container": "container",
    }

    target: Target
    """A pod name, a deployment name (`pod/NAME`, `deployment/NAME` too), or a label
    selector."""

    since: str = "10m"
    """How far back to read: 30s, 10m, 2h, 1d."""

    previous: bool = False
    """Read the previous (crashed) container instead of the running one."""

    grep: str | None = Field(default=None, max_length=200)
    """Only lines matching this regular expression (case-insensitive; RE2 syntax: no
    backreferences or lookarounds)."""

    container: ContainerName | None = None
    """Container name; the pod's first container when left out."""

    tail_lines: int = Field(default=200, ge=1, le=1000)
    """Lines read per pod at most."""

    limit_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    """Bytes read per pod at most."""

    @field_validator("since")
    @classmethod
    def _since(cls, value: str) -> str:
        parse_since(value)
        return value

    @field_validator("grep")
    @classmethod
    def _grep(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                user_pattern(value)
            except PatternError as exc:
                raise ValueError(messages.bad_grep(exc.kind, exc.detail)) from None
        return value


@dataclass
class PodLog:
    pod: str
    lines: list[str]
    error: str | None = None
    truncated: bool = False


@dataclass
class LogsFindings:
    logs: list[PodLog]
    pods_total: int
    templates: list[Template]
    lines: list[tuple[str, str]]
    """(pod, line) of every pod, in time order."""


class Logs(Action[LogsParams, LogsFindings]):
    """Recent logs of a pod or of every pod of a deployment (bounded in lines and bytes): error
    lines grouped into templates with counts and first/last seen come first, then the tail.
    Bearer tokens, passwords in URLs, API keys and private keys are redacted before posting."""

    name = "logs"
    usage = "logs <pod|deployment> [--since 10m] [--previous] [--grep PATTERN] [-n namespace]"
    Params = LogsParams

    def scopes(self, params: LogsParams, ctx: Context) -> list[Scope]:
        return [kube_scope(ctx, params, params.target)]

    async def execute(self, params: LogsParams, ctx: Context, scopes: list[Scope]) -> LogsFindings:
        scope = scopes[0]
        assert scope.cluster and scope.namespace
        kube = ctx.kube(scope.cluster)
        pods = await _target_pods(kube, scope.namespace, params.target)
        # Pods in trouble first, so the bound on pods never hides the broken one.
        pods.sort(key=lambda p: (_healthy(p), p["metadata"]["name"]))
        chosen = pods[:MAX_PODS]
        since_s = parse_since(params.since)
        pattern = user_pattern(params.grep) if params.grep else None

        async def read(pod: Obj) -> PodLog:
            name = str(pod["metadata"]["name"])
            try:
                text = await kube.pod_log(
                    scope.namespace or "",
                    name,
                    container=params.container,
                    since_s=since_s,
                    previous=params.previous,
                    tail_lines=params.tail_lines,
                    limit_bytes=params.limit_bytes,
                )
            except FirelineError as exc:
                return PodLog(name, [], error=str(exc))
            lines, truncated = await asyncio.to_thread(
                read_lines, text, pattern, params.limit_bytes
            )
            return PodLog(name, lines, truncated=truncated)

        logs = list(await asyncio.gather(*(read(p) for p in chosen)))
        lines, templates = await asyncio.to_thread(_merge_and_group, logs)
        return LogsFindings(logs, len(pods), templates, lines)

    def render(self, params: LogsParams, findings: LogsFindings, ctx: Context) -> Result:
        which = "previous container" if params.previous else f"last {params.since}"
        result = Result(f"Logs of `{params.target}` ({which})")
        all_lines = findings.lines
        templates = findings.templates
        read = len(findings.logs)
        headline = f"{counted(len(all_lines), 'line')} from {counted(read, 'pod')}"
        if findings.pods_total > read:
            headline += f" (of {findings.pods_total}; pods in trouble first)"
        errors = sum(t.count for t in templates)
        headline += f" · {counted(errors, 'error line')} in {counted(len(templates), 'pattern')}"
        result.headline.append(headline)
        for log in findings.logs:
            if log.error:
                result.failures.append(f"{log.pod}: {log.error}")
            elif log.truncated:
                result.headline.append(
                    f"`{log.pod}` hit the {params.limit_bytes // 1024} KiB bound; "
                    "older lines omitted"
                )
        tail = [f"{pod}: {line}" for pod, line in all_lines]
        patterns = _templates(templates) if templates else ""
        if patterns:
            result.sections.append(Section("Error patterns", patterns, True))
        if tail:
            shown = newest_that_fit(tail, TAIL_SHOWN, SECTION_BUDGET)
            result.sections.append(Section(f"Last {len(shown)} lines", "\n".join(shown), True))
            complete = not templates or patterns == _templates(templates, rows=None)
            if len(shown) < len(tail) or not complete:
                # One file with everything: every error pattern, then every line read.
                whole = "\n".join(tail)
                if templates:
                    whole = _templates(templates, rows=None) + "\n\n" + whole
                result.files.append(
                    Attachment(f"logs-{params.target}.txt", f"Logs of {params.target}", whole)
                )
        elif not result.failures:
            result.headline.append(messages.no_log_lines(params.grep))
        return result


def in_time_order(logs: list[PodLog]) -> list[tuple[str, str]]:
    """Every pod's lines merged by their timestamps (a line without one keeps the time of the
    line before it), so the last lines are the newest of all pods, not the last pod's."""
    stamped = []
    for log in logs:
        at = _EPOCH
        for position, line in enumerate(log.lines):
            at = line_time(line) or at
            stamped.append((at, log.pod, position, line))
    stamped.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(pod, line) for _, pod, _, line in stamped]


def _merge_and_group(logs: list[PodLog]) -> tuple[list[tuple[str, str]], list[Template]]:
    lines = in_time_order(logs)
    return lines, group_errors(lines)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_lines(text: str, pattern: Pattern | None, limit_bytes: int) -> tuple[list[str], bool]:
    """A pod's log as the lines to show (in a worker thread: `text` may be 1 MB of anything).
    The whole text is redacted at once, since a private key spans lines."""
    lines = [short_stamp(line) for line in redact(text).splitlines() if line.strip()]
    if pattern:
        lines = [line for line in lines if pattern.search(line)]
    return lines, reached(text, limit_bytes)


def reached(text: str, limit_bytes: int) -> bool:
    """Whether a log read with `limitBytes` was cut there (the API says nothing else)."""
    return len(text.encode("utf-8", "surrogatepass")) >= limit_bytes


def _templates(templates: list[Template], rows: int | None = 15) -> str:
    """The patterns as a table: the `rows` most frequent that fit in a section (all of them,
    uncut, for the file, when `rows` is None)."""
    if rows is None:
        body = [[f"×{t.count}", t.first_seen, t.last_seen, t.template] for t in templates]
        return table(body, ["COUNT", "FIRST", "LAST", "PATTERN"])
    count = min(rows, len(templates))
    while True:
        body = [[f"×{t.count}", t.first_seen, t.last_seen, t.template[:140]]
                for t in templates[:count]]  # fmt: skip
        text = table(body, ["COUNT", "FIRST", "LAST", "PATTERN"])
        if count < len(templates):
            text += f"\n… and {len(templates) - count} rarer patterns (all in the file)"
        if slack_length(text) <= SECTION_BUDGET or count <= 1:
            return text
        count -= 1


def _healthy(pod: Obj) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return all(cs.get("ready") and not cs.get("restartCount") for cs in statuses)


async def _target_pods(kube: KubeGateway, namespace: str, target: str) -> list[Obj]:
    if is_selector(target):
        return (await pods_for(kube, namespace, target))[1]
    try:
        return [await kube.get_pod(namespace, target)]
    except NotFound:
        pass
    try:
        return (await pods_for(kube, namespace, target))[1]
    except NotFound:
        pods = [p["metadata"]["name"] for p in await kube.list_pods(namespace)]
        deployments = [d["metadata"]["name"] for d in await kube.list_deployments(namespace)]
        close = close_matches(target, [*deployments, *pods])
        raise NotFound(
            shared.no_such_object("pod or deployment", target, namespace, close, deployments)
        ) from None
