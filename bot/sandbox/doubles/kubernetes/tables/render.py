"""The Table itself: which printer a kind gets, the column definitions, the rows and their
objects, and whether the client asked for a Table at all."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.sandbox.doubles.kubernetes.store import Obj
from bot.sandbox.doubles.kubernetes.tables.autoscaling import PRINTERS as AUTOSCALING
from bot.sandbox.doubles.kubernetes.tables.cells import NAME, Column, Printer
from bot.sandbox.doubles.kubernetes.tables.cluster import PRINTERS as CLUSTER
from bot.sandbox.doubles.kubernetes.tables.events import PRINTERS as EVENTS
from bot.sandbox.doubles.kubernetes.tables.networking import PRINTERS as NETWORKING
from bot.sandbox.doubles.kubernetes.tables.workloads import PRINTERS as WORKLOADS

TABLE_MEDIA = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_MEDIA_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"


def wants_table(accept: str) -> str | None:
    """The Table media type the client prefers, if it asked for one."""
    for part in accept.split(","):
        media = part.strip().replace(" ", "")
        if media in (TABLE_MEDIA, TABLE_MEDIA_V1BETA1):
            return media
    return None


def _default(obj: Obj, now: datetime) -> list[Any]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]


PRINTERS: dict[tuple[str, str], Printer] = {
    **WORKLOADS,
    **NETWORKING,
    **CLUSTER,
    **EVENTS,
    **AUTOSCALING,
}
_DEFAULT: Printer = ([NAME, ("Created At", "date", 0)], _default)


def _column(column: Column) -> dict[str, Any]:
    name, kind, priority = column
    definition: dict[str, Any] = {
        "name": name,
        "type": kind,
        "format": "name" if name == "Name" else "",
        "description": f"{name} of the object, as kubectl shows it.",
        "priority": priority,
    }
    return definition


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    api_version: str,
    kind: str,
    objects: list[Obj],
    now: datetime,
    *,
    include_object: str = "Metadata",
    metadata: Mapping[str, Any] | None = None,
    with_columns: bool = True,
) -> Obj:
    """A meta.k8s.io/v1 Table of `objects` (all of `api_version`/`kind`)."""
    columns, row = PRINTERS.get((api_version, kind), _DEFAULT)
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = _partial(obj)
        phase = obj.get("status", {}).get("phase") if kind == "Pod" else None
        if phase in ("Succeeded", "Failed"):
            entry["conditions"] = [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": phase,
                    "message": "The pod has completed successfully."
                    if phase == "Succeeded"
                    else "The pod failed.",
                }
            ]
        rows.append(entry)
    result: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(metadata or {}),
        "columnDefinitions": [_column(c) for c in columns] if with_columns else [],
        "rows": rows,
    }
    return result
