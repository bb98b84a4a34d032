"""Alertmanager notifications for storms: `groups` groups, each growing one alert at a time.

Shaped like Alertmanager's webhook (v4): every notification of a group carries all of the
group's alerts so far, as Alertmanager sends them. Used by the outbox tests and the storm bench.
"""

from __future__ import annotations

import json
from typing import Any


def notification(group: int, alerts: int, *, resolved: int = 0) -> bytes:
    """Group `group`'s notification carrying its first `alerts` alerts (the first `resolved`
    of them resolved). Start groups with two or more: a group's first alert alone is shown by
    its parent, not listed in its thread."""
    name = f"StormAlert{group:03d}"
    items: list[dict[str, Any]] = []
    for n in range(alerts):
        status = "resolved" if n < resolved else "firing"
        items.append(
            {
                "status": status,
                "labels": {
                    "alertname": name,
                    "namespace": "orion-prod",
                    "pod": f"worker-{group:03d}-{n:03d}",
                    "severity": "warning",
                },
                "annotations": {"summary": f"{name} is unhappy"},
                "startsAt": "2026-11-22T18:45:12Z",
                "endsAt": "2026-11-22T19:00:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph",
                "fingerprint": f"{group:06x}{n:010x}",
            }
        )
    firing = any(i["status"] == "firing" for i in items)
    common = {
        k: v for k, v in items[0]["labels"].items() if all(i["labels"].get(k) == v for i in items)
    }
    return json.dumps(
        {
            "receiver": "fireline",
            "status": "firing" if firing else "resolved",
            "alerts": items,
            "groupLabels": {"alertname": name},
            "commonLabels": common,
            "commonAnnotations": {"summary": f"{name} is unhappy"},
            "externalURL": "http://alertmanager.example:9093",
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}"}}',
            "truncatedAlerts": 0,
        }
    ).encode()


def pod(group: int, n: int) -> str:
    """The label that names alert `n` of group `group` in Slack."""
    return f"worker-{group:03d}-{n:03d}"


def title(group: int) -> str:
    return f"StormAlert{group:03d}"
