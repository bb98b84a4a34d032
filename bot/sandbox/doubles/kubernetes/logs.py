"""pods/log: the kubelet's container log endpoint semantics (plain text, not JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_log_time, parse_time
from bot.sandbox.doubles.kubernetes.errors import ApiError, bad_request, not_found
from bot.sandbox.doubles.kubernetes.store import Cluster


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "false").lower() in ("true", "1")


def _int(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise bad_request(f"{name}: Invalid value: {query[name]!r}: must be an integer") from None


LogLines = list[tuple[datetime, str]]


def read_log(cluster: Cluster, namespace: str, pod_name: str, query: Mapping[str, str]) -> str:
    """Render a container log for GET .../pods/{name}/log with the kubelet's options."""
    _, lines, _ = log_lines(cluster, namespace, pod_name, query)
    text = render_lines(lines, _flag(query, "timestamps"))
    limit = _int(query, "limitBytes")
    return text[:limit] if limit is not None else text


def render_lines(lines: LogLines, stamps: bool) -> str:
    return "".join(
        f"{format_log_time(at)} {line}\n" if stamps else f"{line}\n" for at, line in lines
    )


def _living(
    cluster: Cluster, pod: Any, container: str, previous: bool, query: Mapping[str, str]
) -> LogLines:
    """What the living cluster's container wrote (nothing on a static cluster)."""
    if cluster.life is None:
        return []
    since = None
    if (seconds := _int(query, "sinceSeconds")) is not None and seconds > 0:
        since = cluster.now() - timedelta(seconds=seconds)
    if "sinceTime" in query:
        since = parse_time(query["sinceTime"])
    return cluster.life.log_lines(cluster, pod, container, previous=previous, since=since)


def log_lines(
    cluster: Cluster, namespace: str, pod_name: str, query: Mapping[str, str]
) -> tuple[str, LogLines, int]:
    """The container, the lines the query selects, and how many lines the container has
    written so far (where following it starts)."""
    with cluster.lock:
        pod = cluster.peek("v1", "Pod", namespace, pod_name)  # read only: not copied
        if pod is None:
            raise not_found("pods", pod_name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container")
        if not container:
            if len(names) > 1:
                raise bad_request(
                    f"a container name must be specified for pod {pod_name}, "
                    f"choose one of: [{' '.join(names)}]"
                )
            container = names[0]
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {pod_name}")
        status: dict[str, Any] = next(
            (s for s in pod["status"].get("containerStatuses", []) if s["name"] == container), {}
        )
        logs = cluster.container_logs(namespace, pod_name, container)
        written = len(logs.current)
        previous = _flag(query, "previous")
        if previous:
            if logs.previous is None and "terminated" not in status.get("lastState", {}):
                raise bad_request(
                    f'previous terminated container "{container}" in pod "{pod_name}" not found'
                )
            lines = list(logs.previous or []) + _living(cluster, pod, container, True, query)
        else:
            waiting = status.get("state", {}).get("waiting")
            if waiting and waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull"):
                raise bad_request(
                    f'container "{container}" in pod "{pod_name}" is waiting to start: '
                    "trying and failing to pull image"
                )
            if waiting and waiting.get("reason") == "ContainerCreating":
                raise bad_request(
                    f'container "{container}" in pod "{pod_name}" is waiting to start: '
                    "ContainerCreating"
                )
            lines = list(logs.current) + _living(cluster, pod, container, False, query)
            lines.sort(key=lambda entry: entry[0])
        since_seconds = _int(query, "sinceSeconds")
        if since_seconds is not None:
            if since_seconds < 1:
                raise ApiError(
                    422, "sinceSeconds: Invalid value: must be greater than 0", "Invalid"
                )
            cutoff = cluster.now() - timedelta(seconds=since_seconds)
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if "sinceTime" in query:
            since = parse_time(query["sinceTime"])
            lines = [entry for entry in lines if entry[0] >= since]
        tail = _int(query, "tailLines")
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return container, lines, written
