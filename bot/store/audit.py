"""Who ran what, and how often: the audit trail and the per-user rate limit of action runs.

Every diagnostic and remediation run, and every refusal, is an audit record (who, what,
target, outcome, duration). Each is written twice:

- as one JSON object on the `fireline.audit` logger (`bot.logdata`), at INFO whatever the log
  level, redacted by the logging filter: the team's log pipeline keeps it, for as long as it
  keeps logs. It is written even when Redis is down, so the log is the complete trail;
- on a Redis stream, the recent window Fireline itself reads (the sandbox's drill scores):
  records older than the audit retention (`FIRELINE_AUDIT_RETENTION`, trimmed by time with
  `MINID` at each append) are dropped, and the stream never holds more than `AUDIT_MAXLEN`
  records, a memory bound that, when it cuts into the window, says so in the log.

A sliding window per user (one Lua step: trim, count, record) decides whether one more run
may start now.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.logdata import AUDIT_LOGGER, Structured
from bot.store import scripts
from bot.store.calls import RedisPart, redis_unavailable, text
from bot.store.keys import Keys

AUDIT_MAXLEN = 100_000
"""The most records the stream holds whatever their age (a memory bound, ~30 MB)."""
AUDIT_WINDOW_S = 90 * 24 * 3600
"""Default of `FIRELINE_AUDIT_RETENTION`: how far back the stream reaches."""

audit_log = logging.getLogger(AUDIT_LOGGER)
log = logging.getLogger(__name__)


class ActionLog(RedisPart):
    def __init__(self, redis: Redis, keys: Keys) -> None:
        super().__init__(redis, keys)
        self._take_rate = redis.register_script(scripts.TAKE_RATE)
        self.audit_window_s: float = AUDIT_WINDOW_S
        self._warned_full = False

    async def audit(self, record: dict[str, str], maxlen: int = AUDIT_MAXLEN) -> str:
        """Log one audit record (always), then append it to the stream, trimming the stream
        to the retention window; returns its stream ID. Raises Unavailable if Redis failed
        (the record is in the log all the same)."""
        entry_id = ""
        try:
            fields: dict[Any, Any] = dict(record)
            # IDs are Redis' milliseconds and the cutoff ours: skew is nothing beside days.
            now_ms = int(time.time() * 1000)
            oldest = max(0, now_ms - int(self.audit_window_s * 1000))
            pipe = self.redis.pipeline(transaction=True)
            pipe.xadd(self.keys.audit, fields, minid=str(oldest), approximate=False)
            pipe.xtrim(self.keys.audit, maxlen=maxlen, approximate=False)
            added, cut = await pipe.execute()
            entry_id = text(added)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        finally:
            _log_audit(record, entry_id)
        if cut and not self._warned_full:
            self._warned_full = True
            log.warning(
                "the audit stream holds its limit of %d records: older ones within the "
                "retention window are now dropped from Redis (every record is in the "
                "fireline.audit log)",
                maxlen,
            )
        return entry_id

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


def _log_audit(record: dict[str, str], entry_id: str) -> None:
    """One JSON line on the audit logger: `actor` first (the stream's `user`), then the rest,
    and the stream ID when the record was stored (empty if Redis failed)."""
    fields: dict[str, str] = {"actor": record.get("user", "")}
    fields.update((k, v) for k, v in record.items() if k != "user")
    fields["stream_id"] = entry_id
    actor, action = fields["actor"], record.get("action", "")
    title = f"{actor} {action} {record.get('target', '')}: {record.get('outcome', '')}"
    audit_log.info(Structured("audit", title, fields))
