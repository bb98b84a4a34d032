"""Alertmanager's webhook payload (version 4), parsed strictly where we rely on it.

Unknown fields are accepted (newer Alertmanagers add `notification_reason`, `routeLabels`, …);
a payload missing what we need, or of another version, is refused with the reason, so the
sender's log says what is wrong.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import UserError

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
"""The one limit on a webhook body: the HTTP route answers 413 above it, before reading it all.
Alertmanager sends every alert of a group in one body (about 1-2 KB each, unless `max_alerts` is
set in its webhook config), so 4 MB is a group of a few thousand alerts."""


class MalformedPayload(UserError):
    """The webhook body is not an Alertmanager v4 notification; the message says why."""


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1)

    @property
    def event_key(self) -> str:
        """What makes a notification about this alert new: HA pairs and repeats share it."""
        return f"{self.fingerprint}|{self.status}|{self.startsAt.isoformat()}"


class Notification(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = 0

    @property
    def group_id(self) -> str:
        """A short stable ID for the group (group keys are long and full of quotes)."""
        return hashlib.sha256(self.groupKey.encode()).hexdigest()[:16]

    @property
    def title(self) -> str:
        return self.commonLabels.get("alertname") or self.groupLabels.get("alertname") or "Alert"

    @property
    def summary(self) -> str:
        return self.commonAnnotations.get("summary") or next(
            (a.annotations["summary"] for a in self.alerts if "summary" in a.annotations), ""
        )

    @property
    def severity(self) -> str:
        return self.commonLabels.get("severity", "")


def parse(body: bytes) -> Notification:
    """A notification, or `MalformedPayload` saying why not: never any other exception.

    orjson, not `json`: it refuses nesting deeper than 1024 with an error rather than a
    `RecursionError`, and refuses what Python's parser lets through and would fail later
    (lone surrogates that cannot be encoded again, NaN, numbers beyond a double)."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload(f"payload is {len(body)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("body must be a JSON object")
    version = data.get("version")
    if isinstance(version, str) and version != "4":
        raise MalformedPayload(f'payload version {version[:20]!r} is not supported; send "4"')
    if version is not None and not isinstance(version, str):
        raise MalformedPayload(f'version must be the string "4", not {type(version).__name__}')
    try:
        return Notification.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise MalformedPayload(f"{where}: {first['msg']}") from None
