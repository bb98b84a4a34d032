"""The Alertmanager gateway: silences through API v2 (`POST`/`GET /api/v2/silences`) via httpx.

Creating a silence is not idempotent (each POST makes a new one), so it is never retried here:
the caller claims the silence in Redis first, and a failure is reported, not repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from bot.errors import PermanentError, Unavailable


class SilenceRejected(PermanentError):
    """Alertmanager refused the silence (4xx); the message carries its reason."""


class AlertmanagerGateway:
    def __init__(self, client: httpx.AsyncClient, base_url: str, *, timeout_s: float = 5.0) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    async def create_silence(
        self,
        matchers: Mapping[str, str],
        *,
        starts: datetime,
        ends: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """A silence of alerts carrying every label in `matchers` (exact values); its ID."""
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(matchers.items())
            ],
            "startsAt": _iso(starts),
            "endsAt": _iso(ends),
            "createdBy": created_by,
            "comment": comment,
        }
        data = await self._call("POST", "/api/v2/silences", json=body)
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not silence_id:
            raise Unavailable("Alertmanager did not return the silence's ID")
        return str(silence_id)

    async def silences(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/api/v2/silences")
        return list(data) if isinstance(data, list) else []

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.client.request(
                method, self.base_url + path, timeout=self.timeout_s, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise Unavailable(f"Alertmanager did not answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise Unavailable("Alertmanager could not be reached") from exc
        if response.status_code >= 500:
            raise Unavailable(f"Alertmanager answered {response.status_code}")
        if response.status_code >= 400:
            reason = response.text.strip()[:200] or str(response.status_code)
            raise SilenceRejected(f"Alertmanager refused it: {reason}")
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable("Alertmanager answered something that is not JSON") from exc


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
