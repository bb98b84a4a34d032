"""Every Redis key Fireline uses, and the only code that reads or writes them.

Rules this module keeps:
- A change to an incident and the timeline entries it produced are written in one
  transaction (WATCH/MULTI), so a reader never sees one without the other.
- Anything that must happen once (an incident created for a request, a timeline entry for a
  pinned message, a Slack event handled) is claimed atomically (SET NX or Lua) first.
- Keys are namespaced by `prefix`, so tests and two deployments can share one server.

It never talks to Slack and never decides what a change means: that is `bot.incident`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import ConcurrentModification, IncidentNotFound, Unavailable
from bot.incident import Change, Incident, Role, Severity, TimelineEntry

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 50
CLAIM_TTL_SECONDS = 24 * 3600
AUDIT_MAXLEN = 100_000

# Creates an incident for a request exactly once. KEYS: claim, sequence. ARGV: incident JSON
# with the placeholders below, claim TTL. Returns the incident ID and 1 if created, 0 if the
# request had already created one.
_CREATE_INCIDENT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
local n = redis.call('INCR', KEYS[2])
local id = 'INC-' .. n
local doc = string.gsub(ARGV[1], '"__FIRELINE_ID__"', '"' .. id .. '"', 1)
doc = string.gsub(doc, '"__FIRELINE_NUMBER__"', tostring(n), 1)
redis.call('SET', ARGV[4] .. 'incident:' .. id, doc)
redis.call('RPUSH', ARGV[4] .. 'incident:' .. id .. ':timeline', ARGV[3])
redis.call('ZADD', ARGV[4] .. 'incidents:open', n, id)
redis.call('ZADD', ARGV[4] .. 'incidents:all', n, id)
redis.call('SET', KEYS[1], id, 'EX', tonumber(ARGV[2]))
return {id, 1}
"""

# Appends a timeline entry once per dedupe key. KEYS: dedupe set, timeline. ARGV: key, entry.
_APPEND_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""

# Sliding-window rate limit. KEYS: the user's window (sorted set of run times). ARGV: now (ms),
# window (ms), limit, a unique member. Returns 0 if the run may go ahead (and records it), else
# the milliseconds until the oldest run leaves the window.
_TAKE_RATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1]))
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""

# Releases a lock only if we still hold it. KEYS: lock. ARGV: token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Keys:
    """Every key name, in one place."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def timeline(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline"

    def timeline_keys(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline-keys"

    def channel(self, channel_id: str) -> str:
        return f"{self.prefix}channel:{channel_id}"

    @property
    def sequence(self) -> str:
        return f"{self.prefix}seq:incident"

    @property
    def open_incidents(self) -> str:
        return f"{self.prefix}incidents:open"

    @property
    def all_incidents(self) -> str:
        return f"{self.prefix}incidents:all"

    @property
    def needs_attention(self) -> str:
        return f"{self.prefix}incidents:needs-attention"

    @property
    def alerts_inbox(self) -> str:
        """Stream of accepted Alertmanager notifications, consumed by group `ALERT_WORKERS`."""
        return f"{self.prefix}alerts:inbox"

    def alert_group(self, group_id: str) -> str:
        return f"{self.prefix}alertgroup:{group_id}"

    def alert_events(self, group_id: str) -> str:
        """Set of `fingerprint|status|startsAt` already shown in the group's thread."""
        return f"{self.prefix}alertgroup:{group_id}:events"

    def alert_group_by_parent(self, channel_id: str, ts: str) -> str:
        return f"{self.prefix}alertparent:{channel_id}:{ts}"

    def alert_silence(self, group_id: str) -> str:
        """The group's silence made from Slack (JSON: who, until, ID); expires with the silence."""
        return f"{self.prefix}alertgroup:{group_id}:silence"

    def claim(self, scope: str, key: str) -> str:
        return f"{self.prefix}claim:{scope}:{key}"

    def posted(self, key: str) -> str:
        """A job's post made once (`bot.posts`): JSON of the attempt, then of its message."""
        return f"{self.prefix}posted:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    @property
    def audit(self) -> str:
        """Stream of every action run (who, what, target, outcome, duration)."""
        return f"{self.prefix}audit"

    def rate(self, user: str) -> str:
        return f"{self.prefix}rate:{user}"

    # --- scheduled jobs (bot.scheduler) and checklists (bot.checklists) ---------------------

    @property
    def jobs_due(self) -> str:
        """Sorted set: job ID → due time (epoch seconds)."""
        return f"{self.prefix}jobs:due"

    @property
    def jobs_leased(self) -> str:
        """Sorted set: job ID → when its claimer's lease runs out."""
        return f"{self.prefix}jobs:leased"

    @property
    def job_prefix(self) -> str:
        """`job_prefix + job ID` is the job's hash (document and current lease token)."""
        return f"{self.prefix}job:"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{job_id}"

    def job_group(self, group: str) -> str:
        """Set of the job IDs scheduled for one group (an incident), for cancelling them all."""
        return f"{self.prefix}jobs:group:{group}"

    @property
    def job_done_prefix(self) -> str:
        """`job_done_prefix + job ID + ':' + due` marks a run that completed (idempotency)."""
        return f"{self.prefix}job-done:"

    def checklist(self, incident_id: str, minutes: int) -> str:
        """Hash: the posted checklist's message (ts, channel, posted/late) for one mark."""
        return f"{self.prefix}incident:{incident_id}:checklist:{minutes}"

    def checklist_answers(self, incident_id: str, minutes: int) -> str:
        """Hash: item number → the first answer given to it (JSON)."""
        return f"{self.prefix}incident:{incident_id}:checklist:{minutes}:answers"

    def checklist_marks(self, incident_id: str) -> str:
        """Set of the marks (minutes) whose checklist was posted for an incident."""
        return f"{self.prefix}incident:{incident_id}:checklists"

    def update_snooze(self, incident_id: str) -> str:
        """Until when (epoch seconds, or `resolved`) update reminders are snoozed."""
        return f"{self.prefix}incident:{incident_id}:update-snooze"

    # --- remediation (bot.remediation_store) -----------------------------------------------

    @property
    def remediation_sequence(self) -> str:
        return f"{self.prefix}seq:remediation"

    def remediation(self, remediation_id: str) -> str:
        """A remediation request's record (JSON), from request to its outcome."""
        return f"{self.prefix}remediation:{remediation_id}"

    @property
    def remediations_active(self) -> str:
        """Set of the remediation IDs not yet in a final state (reconciled at start-up)."""
        return f"{self.prefix}remediations:active"

    def remediation_target(self, target: str) -> str:
        """The one open remediation request for a target (`cluster/namespace/kind/name`)."""
        return f"{self.prefix}remediation-target:{target}"

    def remediation_cooldown(self, target: str) -> str:
        """Set when a remediation changed a target; expires with the policy's cooldown."""
        return f"{self.prefix}remediation-cooldown:{target}"

    # --- Slack's rate limits (bot.slack_budget) and the alert outbox (bot.outbox) ----------

    def slack_bucket(self, name: str) -> str:
        """Hash: one Slack rate-limit bucket (tokens, stamp, blocked-until, urgent-until)."""
        return f"{self.prefix}slackrate:{name}"

    @property
    def outbox_channels(self) -> str:
        """Set of the channels whose outbox has entries waiting."""
        return f"{self.prefix}outbox:channels"

    def outbox_queue(self, channel: str) -> str:
        """Sorted set: slot → order (class, then first enqueued) of a channel's waiting writes."""
        return f"{self.prefix}outbox:{channel}:queue"

    def outbox_versions(self, channel: str) -> str:
        """Hash: slot → version, bumped by every enqueue (a newer one outlives a send)."""
        return f"{self.prefix}outbox:{channel}:versions"

    def outbox_attempts(self, channel: str) -> str:
        """Hash: slot → the marker of a post whose outcome is not yet recorded."""
        return f"{self.prefix}outbox:{channel}:attempts"

    def outbox_parked(self, channel: str) -> str:
        """Hash: slot → why Slack refused it for good (kept for a retry, never dropped)."""
        return f"{self.prefix}outbox:{channel}:parked"

    @property
    def outbox_parked_channels(self) -> str:
        """Set of the channels that have (or had) parked slots."""
        return f"{self.prefix}outbox:parked-channels"

    def outbox_lease(self, channel: str) -> str:
        """Which replica drains the channel's outbox now (SET NX PX)."""
        return f"{self.prefix}outbox:{channel}:lease"

    @property
    def outbox_sent(self) -> str:
        """Hash: slot → ts of the message it posted (slots are unique across channels)."""
        return f"{self.prefix}outbox:sent"

    def outbox_notes(self, slot: str) -> str:
        """List: thread notes waiting to be posted by a `thread:` slot (coalesced into one)."""
        return f"{self.prefix}outbox:notes:{slot}"

    def storm(self, channel: str) -> str:
        """Hash: storm state of a channel (`on`, `number` of the current digest)."""
        return f"{self.prefix}storm:{channel}"

    def storm_groups(self, channel: str, number: int) -> str:
        """Sorted set: the alert groups a storm's digest lists, in arrival order."""
        return f"{self.prefix}storm:{channel}:{number}:groups"


def raise_if_cancelled() -> None:
    """Stop if this task is being cancelled.

    redis-py (seen with 8.1) can turn a cancellation that arrives mid-command into a RedisError,
    or swallow it and return normally; a loop that carried on would never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def redis_unavailable(exc: RedisError) -> Unavailable:
    """The Fireline error for a failed Redis call (or CancelledError, if that is what it was).

    Its message reaches people in Slack, so it says what failed, not where: redis-py's text
    names the host and port ("Error 111 connecting to 10.0.0.5:6379"). The log keeps that."""
    raise_if_cancelled()
    log.warning("Redis call failed: %s: %s", type(exc).__name__, exc)
    return Unavailable(f"Redis did not answer ({type(exc).__name__})")


class Store:
    """Incident persistence on Redis (asyncio)."""

    def __init__(self, redis: Redis, prefix: str = "fireline:") -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._create = redis.register_script(_CREATE_INCIDENT)
        self._append_once = redis.register_script(_APPEND_ONCE)
        self._release = redis.register_script(_RELEASE)
        self._take_rate = redis.register_script(_TAKE_RATE)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    # --- incidents -------------------------------------------------------------------------

    async def create_incident(
        self, request_key: str, template: Incident, first_entry: TimelineEntry
    ) -> tuple[Incident, bool]:
        """Create the incident for `request_key` once. Returns it and whether this call made it."""
        doc = template.model_dump(mode="json")
        doc["id"], doc["number"] = "__FIRELINE_ID__", "__FIRELINE_NUMBER__"
        # The placeholders must be the first occurrences in the document: keep id and number
        # first, which model_dump does (field order).
        payload = json.dumps(doc, ensure_ascii=False)
        try:
            result = await self._create(
                keys=[self.keys.claim("declare", request_key), self.keys.sequence],
                args=[
                    payload,
                    CLAIM_TTL_SECONDS,
                    first_entry.model_dump_json(),
                    self.keys.prefix,
                ],
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        incident_id, created = _text(result[0]), bool(int(result[1]))
        if not created:
            return await self.get(incident_id), False
        # What the script stored is the template with its ID and number: no second read.
        number = int(incident_id.removeprefix("INC-"))
        return template.model_copy(update={"id": incident_id, "number": number}), True

    async def get(self, incident_id: str) -> Incident:
        try:
            raw = await self.redis.get(self.keys.incident(incident_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        if raw is None:
            raise IncidentNotFound(
                f"There is no incident {incident_id}. `/incident list` shows the open ones."
            )
        return Incident.model_validate_json(raw)

    async def find_by_channel(self, channel_id: str) -> Incident | None:
        try:
            incident_id = await self.redis.get(self.keys.channel(channel_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return await self.get(_text(incident_id)) if incident_id else None

    async def list_ids(self, *, open_only: bool) -> list[str]:
        key = self.keys.open_incidents if open_only else self.keys.all_incidents
        try:
            return [_text(i) for i in await self.redis.zrange(key, 0, -1)]
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def list_incidents(self, *, open_only: bool) -> list[Incident]:
        ids = await self.list_ids(open_only=open_only)
        if not ids:
            return []
        try:
            raws = await self.redis.mget([self.keys.incident(i) for i in ids])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [Incident.model_validate_json(raw) for raw in raws if raw is not None]

    async def mutate(
        self, incident_id: str, change: Callable[[Incident], Change], *, bump: bool = True
    ) -> tuple[Incident, list[TimelineEntry]]:
        """Apply `change` atomically with optimistic locking; retried when another writer won.

        `change` is pure and may run more than once. A change that returns the record unchanged
        and no entries writes nothing; one that only adds entries (a note) keeps the version,
        since nothing Slack shows changed. `bump=False` is for bookkeeping (which Slack
        artefacts exist) that readers need not re-render for.
        """
        key = self.keys.incident(incident_id)
        for attempt in range(MAX_CAS_ATTEMPTS):
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return await self.get(incident_id), []  # raises IncidentNotFound
                    current = Incident.model_validate_json(raw)
                    new, entries = change(current)
                    if new == current and not entries:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return current, []
                    if bump and new != current:
                        new = new.model_copy(update={"version": current.version + 1})
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, new.model_dump_json())
                    if entries:
                        pipe.rpush(
                            self.keys.timeline(incident_id), *[e.model_dump_json() for e in entries]
                        )
                    if new.channel_id and new.channel_id != current.channel_id:
                        pipe.set(self.keys.channel(new.channel_id), incident_id)
                    if not new.is_open and current.is_open:
                        pipe.zrem(self.keys.open_incidents, incident_id)
                    await pipe.execute()
                    return new, entries
            except WatchError:
                # Another writer won; back off a little (jittered) so a crowd converges.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise redis_unavailable(exc) from exc
        raise ConcurrentModification(
            f"{incident_id} kept changing while Fireline was saving; nothing was applied. "
            "Try again."
        )

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        try:
            raws = await self.redis.lrange(self.keys.timeline(incident_id), 0, -1)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [TimelineEntry.model_validate_json(r) for r in raws]

    async def append_once(self, incident_id: str, dedupe_key: str, entry: TimelineEntry) -> bool:
        """Append `entry` unless an entry with `dedupe_key` was appended before."""
        try:
            added = await self._append_once(
                keys=[self.keys.timeline_keys(incident_id), self.keys.timeline(incident_id)],
                args=[dedupe_key, entry.model_dump_json()],
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return bool(added)

    async def flag(self, incident_id: str) -> None:
        """Remember that Slack does not yet show this incident as Redis holds it."""
        try:
            await self.redis.sadd(self.keys.needs_attention, incident_id)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def flagged(self) -> list[str]:
        try:
            return sorted(_text(i) for i in await self.redis.smembers(self.keys.needs_attention))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def unflag(self, incident_id: str) -> None:
        try:
            await self.redis.srem(self.keys.needs_attention, incident_id)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    # --- audit and rate limits -------------------------------------------------------------

    async def audit(self, record: dict[str, str], maxlen: int = AUDIT_MAXLEN) -> str:
        """Append one action run to the audit stream; returns its stream ID."""
        try:
            fields: dict[Any, Any] = dict(record)
            entry_id = await self.redis.xadd(
                self.keys.audit, fields, maxlen=maxlen, approximate=True
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return _text(entry_id)

    async def audit_log(self, count: int = 100) -> list[dict[str, str]]:
        """The newest `count` audit records, newest first."""
        try:
            raw = await self.redis.xrevrange(self.keys.audit, count=count)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [{_text(k): _text(v) for k, v in (fields or {}).items()} for _, fields in raw or []]

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

    # --- claims and locks ------------------------------------------------------------------

    async def claim(self, scope: str, key: str, ttl: int = CLAIM_TTL_SECONDS) -> bool:
        """True for the first caller with this (scope, key) within `ttl`; False for the rest."""
        try:
            return bool(await self.redis.set(self.keys.claim(scope, key), "1", nx=True, ex=ttl))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def release_claim(self, scope: str, key: str) -> None:
        """Give a claim back (the work it guarded failed and may be tried again)."""
        try:
            await self.redis.delete(self.keys.claim(scope, key))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    @asynccontextmanager
    async def lock(
        self, name: str, ttl_ms: int = 30_000, wait_s: float = 10.0
    ) -> AsyncIterator[bool]:
        """A short mutual-exclusion lock across replicas. Yields False if not acquired in time."""
        token = secrets.token_hex(8)
        key = self.keys.lock(name)
        acquired = False
        lock_wait = _Backoff(wait_s)
        try:
            while True:
                acquired = bool(await self.redis.set(key, token, nx=True, px=ttl_ms))
                if acquired or not await lock_wait.sleep():
                    break
            yield acquired
        finally:
            if acquired:
                try:
                    await self._release(keys=[key], args=[token])
                except RedisError:
                    log.warning("could not release lock %s; it expires in %d ms", name, ttl_ms)


class _Backoff:
    """Sleeps 5 ms, 10 ms, … up to 200 ms between lock attempts, until `total` has passed."""

    def __init__(self, total: float) -> None:
        self.remaining = total
        self.delay = 0.005

    async def sleep(self) -> bool:
        if self.remaining <= 0:
            return False
        await asyncio.sleep(self.delay)
        self.remaining -= self.delay
        self.delay = min(self.delay * 2, 0.2)
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else cast(str, value)


def new_incident(
    *,
    title: str,
    severity: Severity,
    reporter: str,
    now: datetime,
    service: str | None = None,
    description: str | None = None,
    commander: str | None = None,
    origin_channel: str | None = None,
) -> Incident:
    """The template `Store.create_incident` fills the ID and number into."""
    return Incident(
        id="INC-0",
        number=0,
        title=title,
        severity=severity,
        reporter=reporter,
        roles={Role.COMMANDER: commander or reporter},
        service=service,
        description=description,
        origin_channel=origin_channel,
        created_at=now,
    )
