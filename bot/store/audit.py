"""Who ran what, and how often: the audit stream and the per-user rate limit of action runs.

Every diagnostic and remediation run is appended to one capped Redis stream (who, what,
target, outcome, duration); a sliding window per user (one Lua step: trim, count, record)
decides whether one more run may start now.
"""

from __future__ import annotations

import secrets
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.store import scripts
from bot.store.calls import RedisPart, redis_unavailable, text
from bot.store.keys import Keys

AUDIT_MAXLEN = 100_000


class ActionLog(RedisPart):
    def __init__(self, redis: Redis, keys: Keys) -> None:
        super().__init__(redis, keys)
        self._take_rate = redis.register_script(scripts.TAKE_RATE)

    async def audit(self, record: dict[str, str], maxlen: int = AUDIT_MAXLEN) -> str:
        """Append one action run to the audit stream; returns its stream ID."""
        try:
            fields: dict[Any, Any] = dict(record)
            entry_id = await self.redis.xadd(
                self.keys.audit, fields, maxlen=maxlen, approximate=True
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return text(entry_id)

    async def audit_log(self, count: int = 100) -> list[dict[str, str]]:
        """The newest `count` audit records, newest first."""
        try:
            raw = await self.redis.xrevrange(self.keys.audit, count=count)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [{text(k): text(v) for k, v in (fields or {}).items()} for _, fields in raw or []]

    async def take_rate(self, user: str, limit: int, now_ms: int, window_ms: int = 60_000) -> float:
        """0 if `user` may run one more action now (recorded); else seconds until they may."""
        try:
            wait_ms = await self._take_rate(
                keys=[self.keys.rate(user)],
                args=[now_ms, window_ms, limit, f"{now_ms}:{secrets.token_hex(4)}"],
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return int(wait_ms) / 1000
