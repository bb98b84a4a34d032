"""The "fire an alert" control: example alerts turned into real Alertmanager v4 notifications.

Examples come from pluggable `AlertSource`s: the sandbox's own examples
(`bot/sandbox/data/alerts.yaml`, one per problem of the simulated cluster, so their diagnostics
find something), then each playbook's `example` (alertname, labels, annotations). Either way
the payload is built here, field for field as Alertmanager 0.25 sends it (compare
`tests/fixtures/alertmanager/`), and POSTed to the bot's own webhook with its bearer token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import yaml

from bot.errors import ConfigurationError
from bot.settings import packaged_dir

BUILTIN_EXAMPLES = packaged_dir("sandbox", "data") / "alerts.yaml"
ZERO_TIME = "0001-01-01T00:00:00Z"
GROUP_BY = ("alertname", "namespace")
EXTERNAL_URL = "http://alertmanager.sandbox.local:9093"
GRAPH_URL = "http://prometheus.sandbox.local/graph"
FNV_OFFSET, FNV_PRIME = 14695981039346656037, 1099511628211


@dataclass(frozen=True)
class AlertExample:
    """One alert a person can fire: what a playbook's `example` holds."""

    name: str
    """What the control shows (the playbook's or example's name)."""
    alertname: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


class AlertSource(Protocol):
    def examples(self) -> list[AlertExample]:
        """The alerts the control offers, in the order shown."""
        ...


def _example(name: str, raw: Any, where: str) -> AlertExample:
    if not isinstance(raw, dict) or not isinstance(raw.get("alertname"), str):
        raise ConfigurationError(f"{where}: `example` needs at least an alertname")
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (raw.get("annotations") or {}).items()}
    return AlertExample(name, raw["alertname"], labels, annotations)


class ExampleFile:
    """Examples listed in one YAML file: `- name: …, example: {alertname, labels, annotations}`."""

    def __init__(self, path: Path = BUILTIN_EXAMPLES) -> None:
        self.path = path

    def examples(self) -> list[AlertExample]:
        entries = yaml.safe_load(self.path.read_text(encoding="utf-8")) or []
        return [_example(str(e["name"]), e.get("example"), str(self.path)) for e in entries]


class PlaybookExamples:
    """The `example` alert of every playbook YAML in a directory (playbooks without one are
    left out)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def examples(self) -> list[AlertExample]:
        found = []
        for path in sorted(self.directory.glob("*.y*ml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if isinstance(doc, dict) and doc.get("example") is not None:
                name = f"Playbook: {doc.get('title') or path.stem}"
                found.append(_example(name, doc["example"], str(path)))
        return found


class AllExamples:
    """Every source's examples in order, a name shown once (the first source wins): the
    simulated cluster's own problems first, then one alert per playbook."""

    def __init__(self, *sources: AlertSource) -> None:
        self.sources = sources

    def examples(self) -> list[AlertExample]:
        found: dict[str, AlertExample] = {}
        for source in self.sources:
            try:
                for example in source.examples():
                    found.setdefault(example.name, example)
            except OSError:
                continue
        return list(found.values())


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted name/value pairs)."""
    value = FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value = ((value ^ byte) * FNV_PRIME) % 2**64
    return f"{value:016x}"


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def notification(
    example: AlertExample,
    now: datetime,
    *,
    status: str = "firing",
    receiver: str = "fireline",
    graph_url: str = GRAPH_URL,
    external_url: str = EXTERNAL_URL,
) -> dict[str, Any]:
    """The v4 webhook body Alertmanager sends for `example` firing (or resolved) at `now`;
    its Graph link opens `graph_url`, its Alertmanager link `external_url` (the sandbox passes
    the pages it serves)."""
    labels = {"alertname": example.alertname, **example.labels}
    annotations = dict(example.annotations)
    group = {k: labels[k] for k in GROUP_BY if k in labels}
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}"
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339(now),
        "endsAt": _rfc3339(now) if status == "resolved" else ZERO_TIME,
        "generatorURL": f"{graph_url}?{urlencode({'g0.expr': example.alertname})}",
        "fingerprint": fingerprint(labels),
    }
    return {
        "receiver": receiver,
        "status": status,
        "alerts": [alert],
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


def digest(body: bytes) -> str:
    """A short name for a payload in logs (never its content)."""
    return hashlib.sha256(body).hexdigest()[:12]
