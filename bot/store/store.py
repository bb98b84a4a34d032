"""`Store`: the one object features are handed for Redis, made of the store's parts.

- `IncidentStore` (`bot.store.incidents`): incident records, timelines, the channel index;
- `Claims` (`bot.store.claims`): once-only claims and locks across replicas;
- `ActionLog` (`bot.store.audit`): the audit stream and per-user rate limits.

Key names are in `bot.store.keys`, the Lua steps in `bot.store.scripts`, the compare-and-set
loop in `bot.store.cas`, and what a failed call becomes in `bot.store.calls`. The names most
callers want are importable from here too.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.store.audit import AUDIT_WINDOW_S, ActionLog
from bot.store.calls import raise_if_cancelled, redis_unavailable, replicated, text
from bot.store.claims import Claims
from bot.store.incidents import IncidentStore, new_incident
from bot.store.keys import Keys

__all__ = [
    "Keys",
    "Store",
    "new_incident",
    "raise_if_cancelled",
    "redis_unavailable",
    "replicated",
]


class Store(IncidentStore, Claims, ActionLog):
    """Fireline's Redis state on one client, every key under `prefix`."""

    def __init__(
        self, redis: Redis, prefix: str = "fireline:", *, audit_window_s: float = AUDIT_WINDOW_S
    ) -> None:
        super().__init__(redis, Keys(prefix))
        self.audit_window_s = audit_window_s

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def snooze_updates(self, incident_id: str, until: str) -> None:
        """Hold an incident's update reminders until `until` (a timestamp, or "resolved")."""
        try:
            await self.redis.set(self.keys.update_snooze(incident_id), until)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def updates_snoozed_until(self, incident_id: str) -> str | None:
        """What `snooze_updates` recorded, if anything. Redis failing is `Unavailable`, as
        everywhere in the store: a caller that lets Fireline's errors pass (a declare's
        follow-ups) must not be stopped by redis-py's own."""
        try:
            raw = await self.redis.get(self.keys.update_snooze(incident_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return None if raw is None else text(raw)
