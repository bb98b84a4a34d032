"""Printers for Events, core/v1 and events.k8s.io/v1 (which print as core ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.cells import Column, Printer, since


def _event(obj: Obj, now: datetime) -> list[Any]:
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    if series := obj.get("series"):
        last, count = since(series.get("lastObservedTime"), now), series.get("count", count)
    involved = obj.get("involvedObject", {})
    target = involved.get("kind", "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = obj.get("source", {})
    component = source.get("component") or obj.get("reportingComponent", "")
    instance = source.get("host") or obj.get("reportingInstance", "")
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        obj.get("message", "").strip(),
        first,
        count,
        obj["metadata"]["name"],
    ]


def _events_v1(obj: Obj, now: datetime) -> list[Any]:
    """events.k8s.io/v1 Events print as core ones (the API server converts them)."""
    return _event(
        {
            "metadata": obj["metadata"],
            "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
            "lastTimestamp": obj.get("deprecatedLastTimestamp"),
            "eventTime": obj.get("eventTime"),
            "count": obj.get("deprecatedCount"),
            "series": obj.get("series"),
            "involvedObject": obj.get("regarding", {}),
            "type": obj.get("type"),
            "reason": obj.get("reason"),
            "message": obj.get("note", ""),
            "source": obj.get("deprecatedSource", {}),
            "reportingComponent": obj.get("reportingController", ""),
            "reportingInstance": obj.get("reportingInstance", ""),
        },
        now,
    )


EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "string", 1),
    ("Name", "string", 1),
]

PRINTERS: dict[tuple[str, str], Printer] = {
    ("v1", "Event"): (EVENT_COLUMNS, _event),
    ("events.k8s.io/v1", "Event"): (EVENT_COLUMNS, _events_v1),
}
