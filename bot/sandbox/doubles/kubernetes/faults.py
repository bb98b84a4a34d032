"""Fault injection and request recording for tests and benchmarks.

Rules match on a verb (Kubernetes verb such as `list`/`patch`, HTTP method such as `GET`,
or `*`) and a regular expression searched in the request path. Each rule fires for the
next `times` matching requests (None = until cleared).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.doubles.kubernetes.errors import ApiError


@dataclass(frozen=True)
class RequestRecord:
    method: str  # HTTP method
    verb: str  # Kubernetes verb: get, list, create, update, patch, delete
    path: str
    query: dict[str, str]
    body: Any = None


@dataclass
class FaultRule:
    verb: str
    path: re.Pattern[str]
    status: int | None = None  # fail with this code
    message: str | None = None  # defaults to what the API server says for that code
    retry_after: int | None = None
    hang: bool = False
    delay: float = 0.0
    times: int | None = 1
    hits: int = field(default=0)

    def matches(self, method: str, verb: str, path: str) -> bool:
        wanted = self.verb.lower()
        return wanted in ("*", method.lower(), verb.lower()) and bool(self.path.search(path))


class Faults:
    """Thread-safe fault configuration consulted by the server for every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.latency = 0.0  # seconds added to every request

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self.latency = seconds

    def fail(
        self,
        verb: str,
        path: str,
        status: int,
        *,
        times: int | None = 1,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> FaultRule:
        """Answer the next `times` matching requests with an error Status of `status`."""
        rule = FaultRule(verb, re.compile(path), status, message, retry_after, times=times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def hang(self, verb: str, path: str, *, times: int | None = 1) -> FaultRule:
        """Never answer matching requests (until the server stops): a client-side timeout."""
        rule = FaultRule(verb, re.compile(path), hang=True, times=times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def delay(self, verb: str, path: str, seconds: float, *, times: int | None = None) -> FaultRule:
        """Add latency to matching requests only."""
        rule = FaultRule(verb, re.compile(path), delay=seconds, times=times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.latency = 0.0

    def take(self, method: str, verb: str, path: str) -> list[FaultRule]:
        """Consume and return the rules that apply to this request."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in list(self._rules):
                if rule.matches(method, verb, path):
                    rule.hits += 1
                    fired.append(rule)
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
        return fired


def fault_error(rule: FaultRule, default: ApiError) -> ApiError:
    assert rule.status is not None
    if rule.message is None and default.code == rule.status:
        error = default
    else:
        error = ApiError(rule.status, rule.message or default.message)
    if rule.status == 429:
        error.retry_after = rule.retry_after if rule.retry_after is not None else 1
    return error


class RequestLog:
    """Every request the double received, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def find(self, verb: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Records whose verb (Kubernetes verb or HTTP method) matches and whose path
        contains the regular expression `path`."""
        with self._lock:
            records = list(self._records)
        return [
            r
            for r in records
            if (verb is None or verb.lower() in (r.verb, r.method.lower()))
            and (path is None or re.search(path, r.path))
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
