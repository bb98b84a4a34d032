"""What the double records for assertions: API calls, ephemerals, deliveries to the app."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    """One Web API call as the double saw and answered it."""

    method: str
    args: dict[str, Any]
    time: float
    status: int
    ok: bool
    error: str | None
    token: str | None


@dataclass(frozen=True)
class Ephemeral:
    """An ephemeral message shown to one user (chat.postEphemeral, ack bodies, response_urls)."""

    user_id: str
    channel_id: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    source: str
    ts: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST the app made to a ``response_url`` hosted by the double."""

    url: str
    body: dict[str, Any]
    time: float


@dataclass
class Delivery:
    """The app's answer to one request the double delivered (HTTP or Socket Mode)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    via: str = "http"
    payload: dict[str, Any] = field(default_factory=dict)
    ack_error: str | None = None

    @property
    def json(self) -> dict[str, Any] | None:
        if not self.body:
            return None
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def response_action(self) -> str | None:
        """The ``response_action`` of a view_submission answer, if any."""
        body = self.json
        action = body.get("response_action") if body else None
        return str(action) if action else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300
