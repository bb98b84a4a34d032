"""`logs`: a bounded tail of a pod's or deployment's logs, errors grouped first, secrets removed.

A pod's log is outside text of up to 1 MB, and `--grep` is a person's pattern: the pattern runs
in RE2 (linear time, `bot.runtime.patterns`), and redaction, the grep and the grouping of error
lines run in a worker thread, so the event loop keeps acking while a hostile log is read.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field, field_validator

from bot import messages as shared
from bot.actions.base import (
    KUBE_FLAGS,
    Action,
    ContainerName,
    Context,
    KubeParams,
    NameOrSelector,
    close_matches,
    kube_scope,
)
from bot.actions.kubernetes import is_selector, pods_for
from bot.actions.output import Attachment, Result, Section, table
from bot.diagnostics import messages
from bot.diagnostics.logpatterns import Template, group_errors
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
        raise ValueError("use a duration such as 30s, 10m, 2h or 1d")
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

    target: NameOrSelector
    """A pod name, a deployment name, or a label selector."""

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
            lines, truncated = await asyncio.to_thread(_lines, text, pattern, params.limit_bytes)
            return PodLog(name, lines, truncated=truncated)

        logs = list(await asyncio.gather(*(read(p) for p in chosen)))
        all_lines = [(log.pod, line) for log in logs for line in log.lines]
        templates = await asyncio.to_thread(group_errors, all_lines)
        return LogsFindings(logs, len(pods), templates)

    def render(self, params: LogsParams, findings: LogsFindings, ctx: Context) -> Result:
        which = "previous container" if params.previous else f"last {params.since}"
        result = Result(f"Logs of `{params.target}` ({which})")
        all_lines = [(log.pod, line) for log in findings.logs for line in log.lines]
        templates = findings.templates
        read = len(findings.logs)
        headline = f"{len(all_lines)} lines from {read} pod(s)"
        if findings.pods_total > read:
            headline += f" (of {findings.pods_total}; pods in trouble first)"
        errors = sum(t.count for t in templates)
        headline += f" · {errors} error lines in {len(templates)} pattern(s)"
        result.headline.append(headline)
        for log in findings.logs:
            if log.error:
                result.failures.append(f"{log.pod}: {log.error}")
            elif log.truncated:
                result.headline.append(
                    f"`{log.pod}` hit the {params.limit_bytes // 1024} KiB bound; "
                    "older lines omitted"
                )
        if templates:
            result.sections.append(Section("Error patterns", _templates(templates), True))
        if all_lines:
            tail = [f"{pod}: {line}" for pod, line in all_lines]
            shown = tail[-TAIL_SHOWN:]
            result.sections.append(Section(f"Last {len(shown)} lines", "\n".join(shown), True))
            if len(tail) > TAIL_SHOWN:
                result.files.append(
                    Attachment(
                        f"logs-{params.target}.txt", f"Logs of {params.target}", "\n".join(tail)
                    )
                )
        elif not result.failures:
            result.headline.append(messages.no_log_lines(params.grep))
        return result


_API_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+Z ")


def _lines(text: str, pattern: Pattern | None, limit_bytes: int) -> tuple[list[str], bool]:
    """A pod's log as the lines to show (in a worker thread: `text` may be 1 MB of anything).
    The whole text is redacted at once, since a private key spans lines."""
    lines = [_short_stamp(line) for line in redact(text).splitlines() if line.strip()]
    if pattern:
        lines = [line for line in lines if pattern.search(line)]
    return lines, len(text.encode("utf-8", "surrogatepass")) >= limit_bytes


def _short_stamp(line: str) -> str:
    """The API's `timestamps=true` prefix, to the second (nanoseconds only add width). Anchored
    at the start and matched once, so `re` is linear here."""
    return _API_STAMP.sub(r"\1Z ", line, count=1)


def _templates(templates: list[Template]) -> str:
    rows = [[f"×{t.count}", t.first_seen, t.last_seen, t.template[:140]] for t in templates[:15]]
    text = table(rows, ["COUNT", "FIRST", "LAST", "PATTERN"])
    if len(templates) > 15:
        text += f"\n… and {len(templates) - 15} rarer patterns"
    return text


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
            shared.no_such_object("pod or deployment", target, namespace, close)
        ) from None
